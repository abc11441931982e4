import { createHash } from 'node:crypto';
import type { CodeBatch } from './codes/code-batch.js';

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
  const h = createHash('sha256');
  h.update(
    JSON.stringify([
      CONTENT_HASH_DOMAIN,
      batch.lockerId,
      batch.kind,
      batch.fromVersion,
      batch.toVersion,
      batch.upserts.length,
      batch.revocations.length,
      batch.keyring.length,
    ]) + '\n',
  );
  for (const u of batch.upserts) {
    h.update(JSON.stringify(['u', u.tokenId, u.token, u.codeDigest ?? null, u.parcelId, u.compartmentId, u.size, u.kind]) + '\n');
  }
  for (const r of batch.revocations) h.update(JSON.stringify(['r', r.tokenId, r.reason]) + '\n');
  for (const k of batch.keyring) {
    const line = k.op === 'trust' ? ['k', k.op, k.kid, k.publicKey, k.notAfter ?? null] : ['k', k.op, k.kid, null, null];
    h.update(JSON.stringify(line) + '\n');
  }
  return h.digest('hex');
}
