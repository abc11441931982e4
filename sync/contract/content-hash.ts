import { createHash, type Hash } from 'node:crypto';
import type { CodeBatch, CodeEntry } from './codes/code-batch.js';

// The content hash a code-batch manifest signs. Defined over a canonical serialisation
// rather than over the JSON bytes on the wire, so the backend may serialise the message
// however it likes (key order, whitespace) and the locker need not keep raw bytes around.
//
// Canonical form: UTF-8 lines, each a JSON array (JSON.stringify of arrays of strings,
// numbers and null is deterministic in every language: no key order to agree on), "\n"
// after every line:
//   ["locker-code-batch/1", lockerId, kind, fromVersion, toVersion, nUpserts, nRevocations, nKeyring]
//   ["u", tokenId, token, codeDigest|null, parcelId, compartmentId, size, kind]   per upsert, in array order
//   ["r", tokenId, reason]                                                       per revocation, in array order
//   ["k", op, kid, publicKey|null, notAfter|null]                                per keyring change, in array order
// contentHash = lowercase hex SHA-256 of the concatenation. Array order is part of the
// content (the device applies in order), so a reordered batch is a different batch.
// JSON.stringify escapes every string, so no field value can forge a line boundary.

export const CONTENT_HASH_DOMAIN = 'locker-code-batch/1';

export function codeBatchContentHash(batch: CodeBatch): string {
  const hasher = new CodeBatchContentHasher(batch, batch.upserts.length);
  hasher.addUpserts(batch.upserts);
  return hasher.finish(batch);
}

/**
 * The same hash fed in parts, so a receiver can hash a large batch's upserts a chunk at a
 * time between turns of its event loop (sync/agent's sliced decode): the head line needs
 * the counts up front, then every upsert in array order, then revocations and keyring.
 */
export class CodeBatchContentHasher {
  private readonly hash: Hash = createHash('sha256');
  private upsertsSeen = 0;

  constructor(
    head: Pick<CodeBatch, 'lockerId' | 'kind' | 'fromVersion' | 'toVersion' | 'revocations' | 'keyring'>,
    private readonly upsertCount: number,
  ) {
    this.hash.update(
      JSON.stringify([
        CONTENT_HASH_DOMAIN,
        head.lockerId,
        head.kind,
        head.fromVersion,
        head.toVersion,
        upsertCount,
        head.revocations.length,
        head.keyring.length,
      ]) + '\n',
    );
  }

  /** The next upserts, in array order. */
  addUpserts(upserts: readonly CodeEntry[]): void {
    // One update per call rather than per line: the lines are short, the native call is not free.
    let lines = '';
    for (const u of upserts) {
      lines += JSON.stringify(['u', u.tokenId, u.token, u.codeDigest ?? null, u.parcelId, u.compartmentId, u.size, u.kind]) + '\n';
    }
    this.hash.update(lines);
    this.upsertsSeen += upserts.length;
  }

  /** Hex digest; throws if the upserts fed are not as many as the head line announced. */
  finish(tail: Pick<CodeBatch, 'revocations' | 'keyring'>): string {
    if (this.upsertsSeen !== this.upsertCount) {
      throw new RangeError(`content hash fed ${String(this.upsertsSeen)} upserts, announced ${String(this.upsertCount)}`);
    }
    for (const r of tail.revocations) this.hash.update(JSON.stringify(['r', r.tokenId, r.reason]) + '\n');
    for (const k of tail.keyring) {
      const line = k.op === 'trust' ? ['k', k.op, k.kid, k.publicKey, k.notAfter ?? null] : ['k', k.op, k.kid, null, null];
      this.hash.update(JSON.stringify(line) + '\n');
    }
    return this.hash.digest('hex');
  }
}
