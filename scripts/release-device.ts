// `npm run release:device [-- --out DIR]`: the artifact an operator copies to a board. A
// tarball holding the compiled device (main.js, the bring-up tool bringup.js, the database
// backup backup.js that update.sh runs before switching, and their
// shared and lazily loaded chunks, with source maps), its package.json with the exact
// versions this repository was tested with, a lockfile for them, and the board files of
// device/deploy (systemd unit, install and update scripts). Native modules are built on the
// board by `npm ci --omit=dev` at install, for the board's own CPU and Node.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProgram } from './build.js';
import { readPackageJson, runtimeDependencies } from './build/programs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function installedVersion(name: string): string {
  const path = join(root, 'node_modules', name, 'package.json');
  const version = (JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`${path}: no version`);
  return version;
}

function gitRevision(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'nogit';
  }
}

export interface DeviceRelease {
  version: string;
  dir: string;
  tarball: string;
}

export async function releaseDevice(outDir: string): Promise<DeviceRelease> {
  const pkg = readPackageJson(root, 'device');
  const version = `${pkg.version}-${gitRevision()}`;
  const name = `locker-device-${version}`;
  const dir = join(outDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  // Entries, chunks (by relative path) and their maps, built straight into the release (not
  // through device/dist, which another build may be emptying meanwhile).
  await buildProgram('device', { outdir: dir });

  // Exact versions: the board installs what CI tested, not whatever a range allows today.
  const dependencies = Object.fromEntries(Object.keys(runtimeDependencies(root, 'device')).map((d) => [d, installedVersion(d)]));
  const manifest = { name: 'locker-device', version, private: true, type: 'module', engines: { node: '>=20.12' }, main: 'main.js', dependencies };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });

  const deploy = join(root, 'device', 'deploy');
  if (existsSync(deploy)) {
    for (const f of readdirSync(deploy)) {
      const from = join(deploy, f);
      if (statSync(from).isFile() && !f.endsWith('.test.ts')) copyFileSync(from, join(dir, f));
    }
  }
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);

  const tarball = join(outDir, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', tarball, '-C', outDir, name]);
  return { version, dir, tarball };
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const i = process.argv.indexOf('--out');
  const out = i >= 0 ? process.argv[i + 1] : undefined;
  const release = await releaseDevice(out ?? join(root, 'dist', 'release'));
  process.stdout.write(`${release.tarball}\n`);
}
