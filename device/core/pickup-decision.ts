import type { DisplayMessage } from '@locker/hal/types.js';
import type { CompartmentStatus, CodeEntryState } from '../store/runtime-store.js';
import type { TokenClaims } from '@locker/contract/tokens/claims.js';
import type { TokenRejection } from '../tokens/token-verifier.js';
import { messages } from './display-messages.js';

// Decides a customer pickup (code or QR) from facts the runtime gathered: the cached entry,
// the offline verification of the token, the replay and revocation sets. Pure and total:
// every combination gets exactly one outcome and one display message.
//
// The token is the authority, the cache row an index: the row must agree with the signed
// claims (jti, cdh = digest of the typed code, cmp = the compartment the parcel was
// assigned to), otherwise the row was tampered with. The door that opens is the row's
// currentCompartmentId (the courier may have re-slotted the parcel).

export interface PickupEntryFacts {
  tokenId: string;
  parcelId: string;
  compartmentId: string;
  currentCompartmentId: string;
  state: CodeEntryState;
  kind: 'pickup' | 'return-dropoff';
}

export type PickupVerification = { ok: true; claims: Pick<TokenClaims, 'jti' | 'purpose' | 'cmp' | 'par' | 'cdh'> } | { ok: false; reason: TokenRejection };

export interface PickupFacts {
  via: 'code' | 'qr';
  entry: PickupEntryFacts | undefined;
  verification: PickupVerification | undefined;
  /** Digest of the typed code (code path). */
  codeDigest?: string;
  used: boolean;
  revoked: boolean;
  /**
   * The store's row for the compartment the decision would open: the entry's current
   * compartment, or (QR without a cached entry) the token's cmp.
   */
  compartment?: { status: CompartmentStatus; parcelId?: string } | undefined;
  /**
   * The verification ran on confirmed device time (docs/decisions/0019). An entry is
   * flagged for return only then; on provisional time (a new board that never saw a signed
   * time) an expired verdict is shown but changes nothing.
   */
  timeConfirmed: boolean;
}

export type PickupRejection =
  | 'not-found'
  | 'token-invalid'
  | 'entry-mismatch'
  | 'not-yet-available'
  | 'expired'
  | 'revoked'
  | 'used'
  | 'wrong-state'
  | 'elsewhere'
  | 'compartment-unavailable';

export type PickupDecision =
  | { kind: 'open'; tokenId: string; purpose: 'pickup' | 'return-dropoff'; compartmentId: string; parcelId: string | undefined; cached: boolean }
  | {
      kind: 'reject';
      reason: PickupRejection;
      message: DisplayMessage;
      /** Counted by the keypad rate limiter (code path only). */
      countsAsFailure: boolean;
      /** Priority audit: a state that only tampering or a key problem explains. */
      suspicious: boolean;
      /** A cached entry to mark expired and flag for return. */
      expireTokenId?: string;
      tokenId?: string;
      detail?: string;
    };

function reject(facts: PickupFacts, reason: PickupRejection, message: DisplayMessage, extra: { counts?: boolean; suspicious?: boolean; expire?: string; tokenId?: string; detail?: string } = {}): PickupDecision {
  const d: PickupDecision = { kind: 'reject', reason, message, countsAsFailure: facts.via === 'code' && (extra.counts ?? false), suspicious: extra.suspicious ?? false };
  if (extra.expire !== undefined) d.expireTokenId = extra.expire;
  if (extra.tokenId !== undefined) d.tokenId = extra.tokenId;
  if (extra.detail !== undefined) d.detail = extra.detail;
  return d;
}

function byState(facts: PickupFacts, entry: PickupEntryFacts): PickupDecision | undefined {
  switch (entry.state) {
    case 'live':
      return undefined;
    case 'awaiting-deposit':
      return reject(facts, 'not-yet-available', messages.notYetAvailable, { tokenId: entry.tokenId });
    case 'expired':
      return reject(facts, 'expired', messages.expired, { tokenId: entry.tokenId });
    case 'revoked':
      return reject(facts, 'revoked', messages.revoked, { tokenId: entry.tokenId });
    case 'collected':
    case 'retrieved':
      return reject(facts, 'wrong-state', messages.notValid, { counts: true, tokenId: entry.tokenId, detail: entry.state });
  }
}

export function decidePickup(facts: PickupFacts): PickupDecision {
  const { entry, verification } = facts;
  if (verification === undefined) return reject(facts, 'not-found', messages.notValid, { counts: true });
  if (!verification.ok) {
    const expirable = entry !== undefined && (entry.state === 'live' || entry.state === 'awaiting-deposit');
    const tokenId = entry?.tokenId;
    const base = tokenId === undefined ? {} : { tokenId };
    if (verification.reason === 'expired') return reject(facts, 'expired', messages.expired, { ...base, ...(expirable && facts.timeConfirmed ? { expire: entry.tokenId } : {}) });
    if (verification.reason === 'not-yet-valid') return reject(facts, 'not-yet-available', messages.notYetAvailable, base);
    // A cached row whose token does not verify is tampering or a key problem.
    return reject(facts, 'token-invalid', messages.notValid, { counts: true, suspicious: entry !== undefined, detail: verification.reason, ...base });
  }
  const { claims } = verification;
  const tokenId = claims.jti;
  if (entry !== undefined) {
    const mismatch =
      claims.jti !== entry.tokenId ? 'jti' :
      claims.cmp !== entry.compartmentId ? 'cmp' :
      claims.par !== undefined && claims.par !== entry.parcelId ? 'par' :
      claims.purpose !== entry.kind ? 'purpose' :
      facts.via === 'code' && claims.cdh !== undefined && claims.cdh !== facts.codeDigest ? 'cdh' : undefined;
    if (mismatch !== undefined) return reject(facts, 'entry-mismatch', messages.notValid, { counts: true, suspicious: true, tokenId, detail: mismatch });
  }
  if (facts.revoked) return reject(facts, 'revoked', messages.revoked, { tokenId });
  if (facts.used) return reject(facts, 'used', messages.notValid, { counts: true, tokenId });
  const purpose = claims.purpose === 'return-dropoff' ? 'return-dropoff' : 'pickup';
  if (entry !== undefined) {
    const refused = byState(facts, entry) ?? byCompartment(facts, purpose, entry.parcelId, tokenId);
    if (refused !== undefined) return refused;
    return { kind: 'open', tokenId, purpose, compartmentId: entry.currentCompartmentId, parcelId: entry.parcelId, cached: true };
  }
  // Not in the cache (the batch never arrived): the signed claims alone decide, unless the
  // store knows the compartment holds another parcel.
  if (claims.cmp === undefined || facts.compartment === undefined) return reject(facts, 'not-found', messages.notValid, { counts: true, tokenId });
  const held = facts.compartment.parcelId;
  if (held !== undefined && held !== claims.par) return reject(facts, 'elsewhere', messages.notValid, { tokenId, detail: 'compartment-holds-another-parcel' });
  const refused = byCompartment(facts, purpose, claims.par, tokenId);
  if (refused !== undefined) return refused;
  return { kind: 'open', tokenId, purpose, compartmentId: claims.cmp, parcelId: claims.par, cached: false };
}

/**
 * The compartment must agree with the credential before its door opens. A return drop-off
 * needs an empty compartment (or one already holding exactly that return): the door of a
 * compartment holding someone else's parcel must never open for it. A pickup must not open
 * a compartment the store knows holds another parcel. Either is a state only a backend /
 * device disagreement explains: not counted (a correct credential), priority audit.
 */
function byCompartment(facts: PickupFacts, purpose: 'pickup' | 'return-dropoff', parcelId: string | undefined, tokenId: string): PickupDecision | undefined {
  const row = facts.compartment;
  if (row === undefined) return undefined;
  const holdsThis = row.parcelId !== undefined && row.parcelId === parcelId;
  if (purpose === 'return-dropoff') {
    if (row.status === 'free' || (row.status === 'occupied' && holdsThis)) return undefined;
    return reject(facts, 'compartment-unavailable', messages.noCompartment, { suspicious: true, tokenId, detail: `dropoff-into-${row.status}` });
  }
  if (row.parcelId !== undefined && !holdsThis) {
    return reject(facts, 'elsewhere', messages.cannotRelease, { suspicious: true, tokenId, detail: 'compartment-holds-another-parcel' });
  }
  return undefined;
}
