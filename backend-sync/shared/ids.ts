import { randomBytes } from 'node:crypto';

// Ids are random (not sequential) so they reveal no volumes and need no coordination
// between bridge instances. The prefix says what an id names in logs and API bodies.

export type IdPrefix = 'lck' | 'res' | 'ord' | 'shp' | 'tok' | 'ntf' | 'ref' | 'alr' | 'ret' | 'msg' | 'txn';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** A token id (jti): 16-64 url-safe characters as the claims schema requires. */
export function newTokenId(): string {
  return `tok_${randomBytes(16).toString('base64url')}`;
}
