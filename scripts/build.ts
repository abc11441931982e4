// `npm run build [device|backend|simulator]`: compiles each program (or the named ones) to
// one JavaScript file per program with esbuild (see scripts/build/programs.ts).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { programs, runtimeDependencies, type ProgramName } from './build/programs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildProgram(name: ProgramName): Promise<string> {
  const p = programs[name];
  const outfile = join(root, p.outfile);
  await build({
    entryPoints: [join(root, p.entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    external: Object.keys(runtimeDependencies(root, p.dir)),
    // Bundled CommonJS helpers (none today) would need `require` in an ES module.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((a) => !(a in programs));
  if (unknown.length > 0) {
    process.stderr.write(`unknown program(s): ${unknown.join(', ')} (known: ${Object.keys(programs).join(', ')})\n`);
    process.exit(2);
  }
  const names = (asked.length > 0 ? asked : Object.keys(programs)) as ProgramName[];
  for (const name of names) process.stdout.write(`built ${name}: ${await buildProgram(name)}\n`);
}
