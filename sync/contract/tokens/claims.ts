import { z } from 'zod';

// The signed claim set of every token the backend issues (PASETO v4.public payload).
// The backend signs exactly this shape; the device parses it after the signature checked
// out. Times are RFC 3339 strings, as PASETO's registered claims require.
// The locker binding is not a claim: it is the PASETO implicit assertion (the locker id),
// so a token signed for one locker fails signature verification at every other.

export const compartmentSizes = ['S', 'M', 'L', 'XL'] as const;
export const CompartmentSize = z.enum(compartmentSizes);
export type CompartmentSize = z.infer<typeof CompartmentSize>;

/**
 * pickup            customer collects a parcel (keypad code or QR)
 * courier           courier credential: opens compartments assigned to parcels it scans
 * return-dropoff    customer drops a return into a locker
 * return-retrieval  courier takes back an expired parcel or a dropped-off return
 * service           technician: opens any compartment, logged
 */
export const TokenPurpose = z.enum(['pickup', 'courier', 'return-dropoff', 'return-retrieval', 'service']);
export type TokenPurpose = z.infer<typeof TokenPurpose>;

const Rfc3339 = z.iso.datetime({ offset: true });
export const TokenId = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'token id: 16-64 url-safe characters');
export const CompartmentId = z.string().regex(/^[A-Za-z0-9_-]{1,16}$/);
export const ParcelId = z.string().regex(/^[\x21-\x7e]{1,64}$/, 'parcel id: 1-64 printable ASCII');
export const LockerId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'locker id: lowercase, digits, dashes');
/** Hex HMAC-SHA256 of the keypad code (see sync/contract/codes/code-digest.ts). */
export const CodeDigest = z.string().regex(/^[0-9a-f]{64}$/);

export const TokenClaims = z
  .object({
    /** Unique token id; replay protection is keyed on it, never on signature bytes. */
    jti: TokenId,
    iss: z.string().min(1).max(64),
    purpose: TokenPurpose,
    iat: Rfc3339,
    nbf: Rfc3339,
    exp: Rfc3339,
    /** Compartment the token opens. Required for pickup, return-retrieval and return-dropoff. */
    cmp: CompartmentId.optional(),
    /** Parcel (barcode) the token is about. */
    par: ParcelId.optional(),
    /** Digest of the keypad code that maps to this token, so a cache row cannot re-point a code. */
    cdh: CodeDigest.optional(),
    /** Courier or technician id, for the audit log. */
    sub: z.string().min(1).max(64).optional(),
  })
  .strict()
  .superRefine((claims, ctx) => {
    const needsCompartment = claims.purpose === 'pickup' || claims.purpose === 'return-retrieval' || claims.purpose === 'return-dropoff';
    if (needsCompartment && claims.cmp === undefined) {
      ctx.addIssue({ code: 'custom', path: ['cmp'], message: `${claims.purpose} token needs cmp` });
    }
    if (Date.parse(claims.nbf) >= Date.parse(claims.exp)) {
      ctx.addIssue({ code: 'custom', path: ['exp'], message: 'exp must be after nbf' });
    }
  });
export type TokenClaims = z.infer<typeof TokenClaims>;

/** PASETO footer: which backend key signed the token. */
export const TokenFooter = z.object({ kid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict();
export type TokenFooter = z.infer<typeof TokenFooter>;
