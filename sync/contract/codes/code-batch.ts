import { z } from 'zod';
import { CodeDigest, CompartmentId, CompartmentSize, ParcelId, TokenId } from '../tokens/claims.js';

// The content of a code batch as the device stores and applies it. The sync contract wraps
// it in an envelope with a signed manifest; the backend builds it. One schema for both.

/** A PASETO v4.public token as text. Bounded so a hostile batch cannot blow up memory. */
export const TokenText = z.string().min(1).max(2048).startsWith('v4.public.');

/**
 * One entry of a locker's code set. The token is the authority; the other fields are an
 * index over it and must agree with its claims (checked when the token is verified).
 * `codeDigest` is absent for entries that only open by QR or credential.
 * `state`: 'awaiting-deposit' until a courier deposits the parcel, then the pickup code is
 * live on the device. Return drop-off entries are live from the start.
 */
export const CodeEntry = z
  .object({
    tokenId: TokenId,
    token: TokenText,
    codeDigest: CodeDigest.optional(),
    parcelId: ParcelId,
    compartmentId: CompartmentId,
    size: CompartmentSize,
    kind: z.enum(['pickup', 'return-dropoff']),
  })
  .strict();
export type CodeEntry = z.infer<typeof CodeEntry>;

export const Revocation = z
  .object({
    tokenId: TokenId,
    reason: z.enum(['cancelled', 'expired', 'reassigned', 'compromised', 'collected-elsewhere']),
  })
  .strict();
export type Revocation = z.infer<typeof Revocation>;

/** Ed25519 public key, 32 bytes as base64url (43 chars, no padding). */
export const PublicKeyText = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

export const KeyringChange = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('trust'),
    kid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    publicKey: PublicKeyText,
    /** Epoch ms after which tokens signed by this key are no longer accepted (rotation). */
    notAfter: z.number().int().positive().optional(),
  }).strict(),
  z.object({ op: z.literal('revoke'), kid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict(),
]);
export type KeyringChange = z.infer<typeof KeyringChange>;

export const MAX_BATCH_ENTRIES = 200_000;

/**
 * A versioned change to the locker's code set. `delta` applies on top of `fromVersion`
 * only; `snapshot` replaces the whole set (fromVersion is then the version the backend
 * believed the locker had, informational) and is how a locker recovers from a gap.
 */
export const CodeBatch = z
  .object({
    lockerId: z.string().min(1).max(63),
    kind: z.enum(['delta', 'snapshot']),
    fromVersion: z.number().int().nonnegative(),
    toVersion: z.number().int().positive(),
    upserts: z.array(CodeEntry).max(MAX_BATCH_ENTRIES),
    revocations: z.array(Revocation).max(MAX_BATCH_ENTRIES),
    keyring: z.array(KeyringChange).max(64),
  })
  .strict()
  .refine((b) => b.toVersion > b.fromVersion, { message: 'toVersion must be greater than fromVersion', path: ['toVersion'] });
export type CodeBatch = z.infer<typeof CodeBatch>;
