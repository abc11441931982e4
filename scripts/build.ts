// `npm run build [device|backend|simulator]`: compiles each program (or the named ones) to
// JavaScript with esbuild (scripts/build/programs.ts, scripts/build/esbuild-options.ts): one
// file per entry point, plus chunks for what is imported lazily or shared between entries.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { esbuildOptionsFor } from './build/esbuild-options.js';
import { programs, type ProgramName } from './build/programs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface BuiltProgram {
  /** The output directory: every file in it belongs to the program (entries, chunks, maps). */
  outdir: string;
  /** Output file of each entry, by entry name (`main` → `<outdir>/main.js`). */
  entries: Record<string, string>;
}

/**
 * Builds one program into its own output directory, or into `o.outdir` (a test or a release
 * that must not share the one in the tree: building empties the directory first, under
 * anything else running from it).
 */
export async function buildProgram(name: ProgramName, o: { outdir?: string } = {}): Promise<BuiltProgram> {
  const options = { ...esbuildOptionsFor(root, name), ...(o.outdir === undefined ? {} : { outdir: o.outdir }) };
  // Chunk names carry a content hash: stale ones from an earlier build must not ship.
  rmSync(options.outdir, { recursive: true, force: true });
  await build(options);
  const entries = Object.fromEntries(Object.keys(programs[name].entries).map((e) => [e, join(options.outdir, `${e}.js`)]));
  return { outdir: options.outdir, entries };
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
  for (const name of names) {
    const built = await buildProgram(name);
    process.stdout.write(`built ${name}: ${Object.values(built.entries).join(', ')}\n`);
  }
}
