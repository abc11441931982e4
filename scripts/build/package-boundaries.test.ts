import { build, type Metafile } from 'esbuild';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { esbuildOptionsFor } from './esbuild-options.js';
import { programs, readPackageJson, runtimeDependencies } from './programs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const packageDirs = ['sync/contract', 'hal', 'sync/agent', 'sync/testing', 'device', 'backend-sync', 'simulator'];
// hal/contract holds the driver contract suites (vitest), run against sim and real drivers.
const isTestFile = (f: string): boolean => /\.(test|suite)\.ts$/.test(f) || /(^|\/)(testing|e2e)\//.test(f) || f.startsWith('hal/contract/');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    if (name === 'node_modules' || name === 'dist') continue;
    // A nested workspace (sync/contract inside sync/) is its own package.
    if (statSync(join(root, rel)).isDirectory()) {
      if (rel !== dir && packageDirs.includes(rel)) continue;
      out.push(...sourceFiles(rel));
    } else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

function bareImports(file: string): string[] {
  const src = readFileSync(join(root, file), 'utf8');
  const specs = [...src.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2] ?? '');
  return specs
    .filter((s) => s !== '' && !s.startsWith('.') && !s.startsWith('node:'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0] ?? s));
}

describe('package manifests', () => {
  it.each(packageDirs)('%s declares every package its production code imports', (dir) => {
    const pkg = readPackageJson(root, dir);
    const declared = new Set(Object.keys(pkg.dependencies));
    const missing = sourceFiles(dir)
      .filter((f) => !isTestFile(f))
      .flatMap((f) => bareImports(f).filter((name) => name !== pkg.name && !declared.has(name)).map((name) => `${f} imports ${name}`));
    expect(missing).toEqual([]);
  });
});

describe('compiled programs', () => {
  it.each(Object.keys(programs) as Array<keyof typeof programs>)('%s compiles without a test file, and the backend without device code', async (name) => {
    const p = programs[name];
    const result = await build({ ...esbuildOptionsFor(root, name), write: false, metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(result.metafile.inputs).map((f) => relative(root, join(root, f)));
    // The simulator runs the embedded aedes broker of sync/testing on purpose; nothing else.
    const allowed = (f: string): boolean => name === 'simulator' && /^sync\/testing\/(aedes-harness|free-port|broker-harness)\.ts$/.test(f);
    expect(inputs.filter((f) => isTestFile(f) && !allowed(f))).toEqual([]);
    if (name === 'backend') expect(inputs.filter((f) => /^(device|hal|sync\/agent)\//.test(f))).toEqual([]);
    if (name === 'device') expect(inputs.filter((f) => /^(backend-sync|simulator|sync\/testing)\//.test(f))).toEqual([]);
    // Everything left external is a declared dependency of the program.
    const externals = new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)));
    const declared = Object.keys(runtimeDependencies(root, p.dir));
    const undeclared = [...externals].filter((e) => !e.startsWith('node:') && !declared.some((d) => e === d || e.startsWith(`${d}/`)));
    expect(undeclared).toEqual([]);
  });
});

describe('the compiled device', () => {
  /** npm packages an entry loads before its first line runs: static imports, followed through chunks. */
  function staticPackages(outputs: Metafile['outputs'], entry: string): string[] {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of outputs[file]?.imports ?? []) {
        if (i.kind !== 'import-statement') continue;
        if (i.external) packages.add(i.path);
        else visit(i.path);
      }
    };
    visit(entry);
    return [...packages].filter((x) => !x.startsWith('node:')).sort();
  }

  it('loads the hardware drivers and the MQTT client only when the config asks for them, and ships the bring-up tool', async () => {
    const options = esbuildOptionsFor(root, 'device');
    const result = await build({ ...options, write: false, metafile: true, logLevel: 'silent' });
    const outputs = result.metafile.outputs;
    const entryOf = (name: string): string => {
      const found = Object.keys(outputs).find((o) => relative(root, join(root, o)) === `device/dist/${name}.js`);
      if (found === undefined) throw new Error(`no ${name}.js among ${Object.keys(outputs).join(', ')}`);
      return found;
    };
    const main = staticPackages(outputs, entryOf('main'));
    // A simulated locker, or one without sync, must start without serialport, onoff or mqtt.
    expect(main.filter((x) => /^(serialport|@serialport\/|onoff|mqtt)/.test(x))).toEqual([]);
    expect(main).toContain('better-sqlite3');
    // The real drivers still compile in, as a chunk of their own.
    const lazy = Object.values(outputs).flatMap((o) => o.imports.filter((i) => i.external && i.kind === 'import-statement').map((i) => i.path));
    expect(lazy).toContain('serialport');
    expect(lazy).toContain('mqtt');
    expect(Object.keys(outputs).map((o) => relative(root, join(root, o)))).toContain('device/dist/bringup.js');
    // The backup runs beside the service during an update: it needs SQLite, no hardware.
    expect(staticPackages(outputs, entryOf('backup')).filter((x) => /^(serialport|@serialport\/|onoff|mqtt)/.test(x))).toEqual([]);
  });
});
