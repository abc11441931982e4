import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

// The three programs this repository ships and where their compiled form goes. Each is
// bundled from its composition root(s): workspace packages (@locker/*) are compiled in, npm
// packages stay external and are installed from the program's own package.json, so the
// output contains no test file and needs neither tsx nor TypeScript. `entries` maps an
// output name (`<outdir>/<name>.js`) to its source. The device has three: the runtime, the
// technician's bring-up tool and the database backup update.sh runs before switching
// releases, which must exist on the board too (docs/hardware.md).

export const programs = {
  device: { dir: 'device', outdir: 'device/dist', entries: { main: 'device/main.ts', bringup: 'device/bringup/main.ts', backup: 'device/backup/main.ts' } },
  backend: { dir: 'backend-sync', outdir: 'backend-sync/dist', entries: { main: 'backend-sync/main.ts' } },
  simulator: { dir: 'simulator', outdir: 'simulator/dist', entries: { main: 'simulator/main.ts' } },
} as const;
export type ProgramName = keyof typeof programs;

const PackageJson = z.object({
  name: z.string(),
  version: z.string(),
  dependencies: z.record(z.string(), z.string()).default({}),
});
type PackageJson = z.infer<typeof PackageJson>;

const workspaceDirs: Record<string, string> = {
  '@locker/contract': 'sync/contract',
  '@locker/hal': 'hal',
  '@locker/sync-agent': 'sync/agent',
  '@locker/sync-testing': 'sync/testing',
  '@locker/device': 'device',
  '@locker/backend': 'backend-sync',
  '@locker/simulator': 'simulator',
};

export function readPackageJson(root: string, dir: string): PackageJson {
  const path = join(root, dir, 'package.json');
  const parsed = PackageJson.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * The npm packages a program needs at run time: its own dependencies plus those of every
 * workspace package it compiles in, with the version range each declares. Two workspace
 * packages naming the same dependency with different ranges is an error.
 */
export function runtimeDependencies(root: string, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  const visit = (pkgDir: string): void => {
    if (seen.has(pkgDir)) return;
    seen.add(pkgDir);
    for (const [name, range] of Object.entries(readPackageJson(root, pkgDir).dependencies)) {
      const workspace = workspaceDirs[name];
      if (workspace !== undefined) {
        visit(workspace);
        continue;
      }
      const known = out[name];
      if (known !== undefined && known !== range) throw new Error(`${name} is ${known} in one package and ${range} in ${pkgDir}`);
      out[name] = range;
    }
  };
  visit(dir);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
