import type { BuildOptions } from 'esbuild';
import { join } from 'node:path';
import { programs, runtimeDependencies, type ProgramName } from './programs.js';

/**
 * The esbuild options of one program: what `npm run build` writes and what the package
 * boundary test analyses (with write: false), so the test checks the shipped shape.
 */
export function esbuildOptionsFor(root: string, name: ProgramName): BuildOptions & { outdir: string } {
  const p = programs[name];
  return {
    entryPoints: Object.fromEntries(Object.entries(p.entries).map(([out, src]) => [out, join(root, src)])),
    outdir: join(root, p.outdir),
    bundle: true,
    // Code splitting turns each dynamic import() into its own chunk, loaded only when that
    // branch runs: the real hardware drivers (serialport, onoff: hal/create-hardware.ts) and
    // the sync agent (mqtt: device/main.ts) stay out of a process that does not use them,
    // and the runtime and the bring-up tool share their common code instead of copying it.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    external: Object.keys(runtimeDependencies(root, p.dir)),
    // Bundled CommonJS helpers (none today) would need `require` in an ES module.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  };
}
