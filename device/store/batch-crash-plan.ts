import { createHash } from 'node:crypto';
import type { CodeBatch, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeSetDigestOf } from '@locker/contract/codes/code-set-digest.js';
import { digestFor, LOCKER_ID } from './store-test-fixtures.js';

// The deterministic sequence of code batches the crash test's child applies, and the set
// each version must hold, so the parent can tell "wholly version v" from anything else.
// Half of each batch re-issues token ids from a fixed pool (new token text, so a
// half-applied batch would show up in the digest recomputed from the rows); the other half
// are token ids never seen before, which the sliced apply stages before its version switch
// (decision 0025), so kills land in staging too. The file grows by those fresh rows only.

export const POOL = 12_000;
export const BATCH_ENTRIES = 10_000;
/** Entries of each batch with a token id no earlier version used. */
const FRESH_PER_BATCH = 5_000;
const REVOKED_PER_DELTA = 500;

function tokenId(id: number): string {
  return `crash_${String(id).padStart(10, '0')}`;
}

function entry(id: number, version: number): CodeEntry {
  const tid = tokenId(id);
  return {
    tokenId: tid,
    token: `v4.public.${createHash('sha512').update(`${tid}:${String(version)}`).digest('base64url').repeat(3)}`,
    codeDigest: digestFor(id, 'crash'),
    parcelId: `CP${String(id)}`,
    compartmentId: `C${String(id % 24)}`,
    size: 'S',
    kind: 'pickup',
  };
}

export function batchKind(version: number): 'delta' | 'snapshot' {
  return version > 1 && version % 4 === 0 ? 'snapshot' : 'delta';
}

/** The batch taking the store from version - 1 to version. */
export function batchFor(version: number): CodeBatch {
  const start = version === 1 ? 0 : (version * 1_000) % POOL;
  const recycled = BATCH_ENTRIES - FRESH_PER_BATCH;
  const upsertIds = [
    ...Array.from({ length: recycled }, (_, i) => (start + i) % POOL),
    ...Array.from({ length: FRESH_PER_BATCH }, (_, i) => POOL + version * FRESH_PER_BATCH + i),
  ];
  const outside = Array.from({ length: POOL - recycled }, (_, i) => (start + recycled + i) % POOL);
  const kind = batchKind(version);
  return {
    lockerId: LOCKER_ID,
    kind,
    fromVersion: version - 1,
    toVersion: version,
    upserts: upsertIds.map((id) => entry(id, version)),
    revocations: kind === 'delta' && version > 1
      ? outside.slice(0, REVOKED_PER_DELTA).map((id) => ({ tokenId: tokenId(id), reason: 'cancelled' as const }))
      : [],
    keyring: [{ op: 'trust', kid: `k${String(version)}`, publicKey: 'A'.repeat(43) }],
  };
}

/** The expected set digest after each version, computed by replaying the plan in memory. */
export class CrashPlanModel {
  private readonly set = new Map<string, string>();
  private readonly digests: string[] = [codeSetDigestOf([])];
  private readonly sizes: number[] = [0];

  digestAt(version: number): string {
    while (this.digests.length <= version) {
      const batch = batchFor(this.digests.length);
      if (batch.kind === 'snapshot') this.set.clear();
      for (const r of batch.revocations) this.set.delete(r.tokenId);
      for (const e of batch.upserts) this.set.set(e.tokenId, e.token);
      this.digests.push(codeSetDigestOf([...this.set].map(([tid, token]) => ({ tokenId: tid, token }))));
      this.sizes.push(this.set.size);
    }
    return this.digests[version] ?? '';
  }

  /** How many entries the backend's set holds at `version`. */
  sizeAt(version: number): number {
    this.digestAt(version);
    return this.sizes[version] ?? 0;
  }
}
