import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OpenStep } from '../runtime/door-controller.js';
import { Harness } from './harness.js';

// A power cut at every step of a courier deposit's open (the child SIGKILLs itself inside
// the step): after the restart the parcel may be in the compartment or in the courier's
// hands. The locker must not call the compartment 'free' (the next deposit would go on top
// of the parcel): it is out of service with a technician task naming the parcel, the entry
// still awaiting deposit, and the audit chain intact.

const child = join(import.meta.dirname, 'courier-step-child.ts');

function runChild(dir: string, step: OpenStep): Promise<{ signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, step], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    proc.on('exit', (_code, signal) => resolve({ signal, out }));
  });
}

describe('a courier deposit cut by a power failure at every step of its open', () => {
  for (const step of ['journaled', 'relay-on', 'door-event', 'relay-off'] as const) {
    it(`hands the compartment to a technician after a kill at '${step}'`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'courier-step-'));
      try {
        const run = await runChild(dir, step);
        expect(run.signal, run.out).toBe('SIGKILL');
        const parcel = JSON.parse(readFileSync(join(dir, 'parcel.json'), 'utf8')) as { tokenId: string };
        const h = new Harness({ dir });
        await h.start();
        try {
          expect(h.store.verifyAuditChain().ok).toBe(true);
          expect(h.store.getCompartment('A02')?.status).toBe('out-of-service');
          const task = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).find((r) => r.type === 'technician.task');
          expect(JSON.parse(task?.dataJson ?? '{}')).toMatchObject({ compartmentId: 'A02', cause: 'deposit-interrupted', tokenId: parcel.tokenId, parcelId: 'P-CRASH' });
          expect(h.store.findEntryByTokenId(parcel.tokenId)?.state).toBe('awaiting-deposit');
          // Asked once: a second restart finds nothing left to report.
          await h.restart();
          const tasks = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).filter((r) => r.type === 'technician.task');
          expect(tasks).toHaveLength(1);
        } finally {
          await h.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});
