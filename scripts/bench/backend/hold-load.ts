import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';

// Runs the HTTP hold load (backend-sync/testing/http-load-client.ts) in its own process, so
// the clients never share an event loop or a core's scheduling with the server they load.

const requireFromHere = createRequire(import.meta.url);
const loadClient = join(dirname(requireFromHere.resolve('@locker/backend/package.json')), 'testing', 'http-load-client.ts');

const LoadResult = z.object({ ok: z.number(), full: z.number(), other: z.number(), ms: z.number(), cpuUs: z.number(), statuses: z.record(z.string(), z.number()) });
export type LoadResult = z.infer<typeof LoadResult>;

export interface HoldLoad {
  /** Instances to load; the clients are split evenly over them. */
  bases: readonly string[];
  clients: number;
  perClient: number;
  lockers: number;
  /** Prefixes idempotency keys and order refs: every run's requests are new. */
  tag: string;
  apiKey?: string;
}

export function runHoldLoad(o: HoldLoad): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', loadClient, o.bases.join(','), String(o.clients), String(o.perClient), String(o.lockers), o.tag], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...(o.apiKey === undefined ? {} : { LOAD_API_KEY: o.apiKey }) },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load client exit ${String(code)}`));
      try {
        resolve(LoadResult.parse(JSON.parse(out)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}
