import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeSetDigestOf } from '@locker/contract/codes/code-set-digest.js';
import { makeBatch, makeEntries } from '@locker/device/store/store-test-fixtures.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { makeWorld, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { openTestLockerStore, TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';

// The locker process is SIGKILLed while the agent applies a large code batch it received
// over MQTT. After every kill the database holds exactly the old version or exactly the
// new one (version, digest and entries agree), never a mix; the restarted locker's birth
// message makes the backend send the batch again, and it ends on the backend's set.
// (device/store has the lower-level crash test; this one goes through the agent.)

const BATCH_SIZE = 20_000;
const ROUNDS = 2;

function spawnLocker(w: SuiteWorld): { child: ChildProcess; lines: string[]; waitLine: (prefix: string, ms: number) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../testing/crash-child.ts')], {
    env: { ...process.env, SYNC_DIR: w.dir, SYNC_BROKER_URL: w.broker.url, SYNC_PROTOCOL: String(w.broker.protocolVersion), SYNC_KEYRING_ROWS: JSON.stringify(w.keys.rows) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
    for (const l of [...listeners]) l();
  });
  const waitLine = (prefix: string, ms: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => l.startsWith(prefix));
        if (found === undefined) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no "${prefix}" line from the locker process`));
      }, ms);
      listeners.add(check);
      check();
    });
  return { child, lines, waitLine };
}

describe('locker process killed while applying a code batch', () => {
  let w: SuiteWorld;
  beforeEach(async () => {
    w = await makeWorld(() => AedesHarness.start());
  });
  afterEach(async () => {
    await w.dispose();
  });

  it('never leaves a mixed version behind, and the broker publishes the last will', async () => {
    const sets: CodeEntry[][] = [makeEntries(1, 1_000)];
    for (let r = 1; r <= ROUNDS; r++) sets.push(makeEntries(r * 100_000, BATCH_SIZE));
    const seed = openTestLockerStore(w.dir);
    seed.applyCodeBatch(makeBatch({ lockerId: TEST_LOCKER_ID, upserts: sets[0]! }));
    seed.close();
    // Round r moves version r to r+1 by replacing the set (snapshot of BATCH_SIZE new entries).
    const batchFor = (version: number) =>
      makeBatch({ lockerId: TEST_LOCKER_ID, kind: 'snapshot', fromVersion: version, toVersion: version + 1, upserts: sets[version]! });

    let killedMidApply = 0;
    let completedAfterKill = 0;
    let version = 1;
    while (version <= ROUNDS) {
      const proc = spawnLocker(w);
      await proc.waitLine('STARTED', 15_000);
      await w.backend.waitFor(() => w.backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 10_000, 'birth');
      w.backend.presence.delete(TEST_LOCKER_ID);
      w.backend.publishBatch(batchFor(version));
      await proc.waitLine('APPLYING', 10_000);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 60)));
      const exited = new Promise((r) => proc.child.once('exit', r));
      proc.child.kill('SIGKILL');
      await exited;
      // The broker saw the connection die: the retained last will says so.
      await w.backend.waitFor(() => {
        const p = w.backend.presence.get(TEST_LOCKER_ID);
        return p?.status === 'offline' && p.cause === 'will';
      }, 10_000, 'last will');

      const store = openTestLockerStore(w.dir);
      const state = store.codeSetState();
      const newEntries = sets[version]!;
      const present = [newEntries[0]!, newEntries[newEntries.length - 1]!, newEntries[Math.floor(newEntries.length / 2)]!].map(
        (e) => store.findEntryByTokenId(e.tokenId) !== undefined,
      );
      expect(store.verifyAuditChain().ok).toBe(true);
      store.close();
      if (state.version === version) {
        expect(state.digest).toBe(codeSetDigestOf(sets[version - 1]!));
        expect(present).toEqual([false, false, false]);
        killedMidApply++;
      } else {
        expect(state).toEqual({ version: version + 1, digest: codeSetDigestOf(newEntries) });
        expect(present).toEqual([true, true, true]);
        if (!proc.lines.some((l) => l.startsWith('APPLIED'))) completedAfterKill++;
        version++;
      }
    }
    console.log(`crash-during-apply: kills=${String(killedMidApply + ROUNDS)} oldVersionIntact=${String(killedMidApply)} newVersionComplete=${String(ROUNDS)} (committed with no APPLIED line: ${String(completedAfterKill)}) mixed=0`);
    expect(killedMidApply).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
