import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { BackendError } from '../shared/errors.js';
import { Role } from './roles.js';

// Bearer API keys. The config holds only SHA-256 digests of the keys (make one with
// backend-sync/scripts/make-api-key.ts), so a leaked config file or backup opens nothing.
// The presented key is hashed and compared with every configured digest in constant time:
// neither the comparison nor the number of comparisons depends on where a guess differs.

export const ApiKeyEntry = z
  .object({
    /** Names the caller in logs and errors (never the key itself). */
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
    roles: z.array(Role).min(1),
    /** Hex SHA-256 of the key as the caller sends it after "Bearer ". */
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256: 64 lowercase hex digits (the digest, never the key)'),
  })
  .strict();
export type ApiKeyEntry = z.infer<typeof ApiKeyEntry>;

export interface Principal {
  keyId: string;
  roles: readonly Role[];
}

interface LoadedKey {
  id: string;
  roles: readonly Role[];
  digest: Buffer;
}

export function apiKeyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class ApiKeyAuth {
  private readonly keys: LoadedKey[];

  constructor(entries: readonly ApiKeyEntry[]) {
    this.keys = entries.map((e) => ({ id: e.id, roles: e.roles, digest: Buffer.from(e.sha256, 'hex') }));
  }

  /** The caller behind an Authorization header; UNAUTHENTICATED when it is missing or unknown. */
  authenticate(authorization: string | undefined): Principal {
    const m = /^Bearer ([\x21-\x7e]{16,512})$/.exec(authorization ?? '');
    if (m?.[1] === undefined) {
      throw new BackendError('UNAUTHENTICATED', authorization === undefined ? 'missing bearer API key' : 'malformed Authorization header', { scheme: 'Bearer' });
    }
    const presented = createHash('sha256').update(m[1], 'utf8').digest();
    let found: LoadedKey | undefined;
    for (const k of this.keys) {
      // No early exit: every configured key is compared on every request.
      if (timingSafeEqual(presented, k.digest) && found === undefined) found = k;
    }
    if (found === undefined) throw new BackendError('UNAUTHENTICATED', 'unknown API key', { scheme: 'Bearer' });
    return { keyId: found.id, roles: found.roles };
  }

  /** Throws FORBIDDEN unless the principal holds one of the roles. */
  authorize(p: Principal, allowed: readonly Role[]): void {
    if (!p.roles.some((r) => allowed.includes(r))) {
      throw new BackendError('FORBIDDEN', 'this API key may not call this route', { keyId: p.keyId, requires: [...allowed] });
    }
  }
}
