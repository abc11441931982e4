import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { codeSetDigestOf } from '@locker/contract/codes/code-set-digest.js';
import { CrashPlanModel } from './batch-crash-plan.js';
import { VISIBLE_ENTRY } from './staged-entries.js';
import { openTestStore, tempDir } from './store-test-fixtures.js';

// The crash test: a child process applies 10k-entry batches (deltas with
// revocations and keyring changes, and snapshots) to a real SQLite file and is SIGKILLed
// at random points; after every kill the file must pass integrity_check and hold wholly
// one version: meta version and digest, the rows (digest recomputed from them), the
// keyring and the audit log (one record per applied batch, chain intact) all agree.
// Most batches are applied in slices (decision 0025): a kill between two staging
// transactions leaves rows staged for the next version, which must stay out of the set
// (every read filters with VISIBLE_ENTRY) and out of the way of the next apply.

// 16 kills, cycling ready / applied / ready / sliced-apply (see runAndKill), cover every
// phase an apply goes through: start-up, staging slices of a sliced delta or snapshot, the
// version switch, dropping rows an earlier kill left staged, the one-transaction apply (every
// third version) and the gap between two batches. Each 'applied' kill also moves the file
// on by at least one version, so 16 kills reach version 4 (the first snapshot) at least.
// (32 kills took ~60 s for the same phases; CRASH_TEST_KILLS raises the count for a soak.)
const KILLS = Number(process.env['CRASH_TEST_KILLS'] ?? 16);
const MAX_DELAY_MS = 700;
const childScript = fileURLToPath(new URL('./batch-crash-child.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface KillResult {
  lastLine: string;
}

/** When the kill timer starts: which line of the child's output. */
type KillFrom = 'ready' | 'applied' | 'sliced-apply';

/**
 * Starts the child, waits for a line of its output, then kills it after `delayMs`:
 * - 'ready': it has opened the store (the kill lands anywhere);
 * - 'applied': it has applied one batch, which guarantees progress however slow the
 *   machine is (a sliced apply of 10k entries can take longer than MAX_DELAY_MS);
 * - 'sliced-apply': it has begun a batch it applies in slices; with a short delay the kill
 *   lands while rows are being staged or dropped, the case the slicing adds.
 */
function runAndKill(dbPath: string, delayMs: number, from: KillFrom): Promise<KillResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, dbPath], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test' },
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (timer === undefined && started(out, from)) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child exited by itself (code ${String(code)}): ${err.slice(-2000)}`));
        return;
      }
      const lines = out.trim().split('\n');
      resolve({ lastLine: lines[lines.length - 1] ?? '' });
    });
  });
}

function started(out: string, from: KillFrom): boolean {
  if (from !== 'sliced-apply') return out.includes(from);
  // The child applies version v in one transaction when v % 3 === 0 (batch-crash-child.ts).
  return [...out.matchAll(/applying (\d+)/g)].some((m) => Number(m[1]) % 3 !== 0);
}

interface Row {
  token_id: string;
  token: string;
}

describe('code batch application under SIGKILL', () => {
  it(`leaves wholly the old or wholly the new code set after ${String(KILLS)} random kills`, async () => {
    const { dir, cleanup } = tempDir('batch-crash-');
    const dbPath = join(dir, 'crash.db');
    const model = new CrashPlanModel();
    let midBatchKills = 0;
    let stagedLeftovers = 0;
    let previousVersion = 0;
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const from: KillFrom = kill % 4 === 3 ? 'sliced-apply' : kill % 2 === 1 ? 'applied' : 'ready';
        const delay = from === 'sliced-apply' ? 20 + Math.floor(Math.random() * 230) : Math.floor(Math.random() * MAX_DELAY_MS);
        const { lastLine } = await runAndKill(dbPath, delay, from);
        if (lastLine.startsWith('applying')) midBatchKills++;

        const store = openTestStore(dbPath);
        try {
          expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
          const { version, digest } = store.codeSetState();
          expect(version).toBeGreaterThanOrEqual(previousVersion);
          // The meta row is at exactly one version of the plan...
          expect(digest).toBe(model.digestAt(version));
          // ...and the rows are that version's rows, not a mix.
          const rows = store.database.prepare<[], Row>(`SELECT token_id, token FROM code_entries WHERE in_set = 1 AND ${VISIBLE_ENTRY}`).all();
          expect(rows.length).toBe(model.sizeAt(version));
          expect(codeSetDigestOf(rows.map((r) => ({ tokenId: r.token_id, token: r.token })))).toBe(digest);
          // Keyring and audit were written in the same transactions.
          expect(store.keyringRows().length).toBe(version);
          expect(store.auditHighWatermark()).toBe(version);
          expect(store.verifyAuditChain()).toMatchObject({ ok: true, records: version });
          // Rows staged for a version never reached are invisible to the keypad path.
          const staged = store.database
            .prepare<[number], { token_id: string; code_digest: string }>('SELECT token_id, code_digest FROM code_entries WHERE staged_version > ? LIMIT 50')
            .all(version);
          if (staged.length > 0) stagedLeftovers++;
          if (process.env['CRASH_TEST_VERBOSE'] !== undefined) process.stderr.write(`kill ${String(kill)} from ${from} after ${lastLine}: version ${String(version)}, staged ${String(staged.length)}\n`);
          for (const s of staged) {
            expect(store.findEntryByCodeDigest(s.code_digest)).toBeUndefined();
            expect(store.findEntryByTokenId(s.token_id)).toBeUndefined();
          }
          previousVersion = version;
        } finally {
          store.close();
        }
      }
      // The kills must have hit real work, not only start-up (about half land mid-batch).
      const stats = `version ${String(previousVersion)}, ${String(midBatchKills)} of ${String(KILLS)} kills mid-batch, ${String(stagedLeftovers)} left staged rows`;
      // Every 'applied' kill (one in four) lands after this run applied a batch.
      expect(previousVersion, stats).toBeGreaterThanOrEqual(Math.floor(KILLS / 4));
      expect(midBatchKills, stats).toBeGreaterThanOrEqual(Math.floor(KILLS / 6));
      // ...and some of them between two staging slices, the case the slicing adds.
      expect(stagedLeftovers, stats).toBeGreaterThanOrEqual(1);
      if (process.env['CRASH_TEST_VERBOSE'] !== undefined) process.stderr.write(`batch-crash: ${stats}\n`);
    } finally {
      cleanup();
    }
  }, 240_000);
});
