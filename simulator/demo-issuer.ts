import { randomBytes, randomInt } from 'node:crypto';
import type { CodeBatch, CodeEntry, KeyringChange } from '@locker/contract/codes/code-batch.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import type { SigningKey } from './backend-signing-key.js';

// The backend's part of the demo done in-process, with the real TokenIssuer and the real
// code digest: it signs exactly what the backend would (PASETO v4.public, locker id as
// implicit assertion) and builds a code batch the device applies like any other. Used
// when no backend service is running; it is the signing side, never the device side.

export interface DemoIssuerOptions {
  ed: Ed25519;
  key: SigningKey;
  lockerId: string;
  /** The locker's code pepper: the backend knows it too, to send digests instead of codes. */
  pepper: Uint8Array;
  now: () => number;
  /** Keypad code length (6-10 digits; 8 by default, as on the device). */
  codeLength?: number;
  issuer?: string;
}

export interface IssuedPickup {
  entry: CodeEntry;
  /** The keypad code the customer receives. Secret: the demo shows it on purpose, nothing logs it. */
  code: string;
  /** The same pickup as a QR code. */
  token: string;
}

const HOUR_MS = 3_600_000;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function newTokenId(prefix: string): string {
  return `${prefix}_${randomBytes(15).toString('base64url')}`;
}

export class DemoIssuer {
  private readonly issuer: TokenIssuer;
  private readonly codeLength: number;

  constructor(private readonly options: DemoIssuerOptions) {
    this.issuer = new TokenIssuer({
      ed: options.ed,
      kid: options.key.kid,
      seed: options.key.seed,
      issuer: options.issuer ?? 'sim-backend',
    });
    this.codeLength = options.codeLength ?? 8;
  }

  get kid(): string {
    return this.issuer.kid;
  }

  /** The keyring change that makes the locker trust this key (idempotent to re-send). */
  trustChange(): KeyringChange {
    return { op: 'trust', kid: this.issuer.kid, publicKey: keyToText(this.issuer.publicKey) };
  }

  /** A courier's credential: valid for one shift, bound to this locker by the signature. */
  courierCredential(courierId: string, validForMs = 12 * HOUR_MS): string {
    const now = this.options.now();
    return this.issuer.issue(this.options.lockerId, {
      jti: newTokenId('crd'),
      purpose: 'courier',
      sub: courierId,
      iat: iso(now),
      nbf: iso(now - 60_000),
      exp: iso(now + validForMs),
    });
  }

  /** A technician's service credential for one compartment: opens it in any state, audited. */
  serviceCredential(compartmentId: string, technicianId: string, validForMs = HOUR_MS): string {
    const now = this.options.now();
    return this.issuer.issue(this.options.lockerId, {
      jti: newTokenId('svc'),
      purpose: 'service',
      sub: technicianId,
      cmp: compartmentId,
      iat: iso(now),
      nbf: iso(now - 60_000),
      exp: iso(now + validForMs),
    });
  }

  /**
   * A pickup token with a fresh keypad code. `codeInUse` says whether a digest already
   * maps to a live code on the locker: codes must be unique among live codes.
   */
  pickup(
    parcel: { parcelId: string; compartmentId: string; size: CompartmentSize },
    codeInUse: (digest: string) => boolean,
    windowMs = 72 * HOUR_MS,
  ): IssuedPickup {
    const { lockerId, pepper } = this.options;
    let code: string;
    let digest: string;
    do {
      code = this.randomCode();
      digest = codeDigest(pepper, lockerId, code);
    } while (codeInUse(digest));
    const now = this.options.now();
    const tokenId = newTokenId('pku');
    const token = this.issuer.issue(lockerId, {
      jti: tokenId,
      purpose: 'pickup',
      cmp: parcel.compartmentId,
      par: parcel.parcelId,
      cdh: digest,
      iat: iso(now),
      nbf: iso(now - 60_000),
      exp: iso(now + windowMs),
    });
    const entry: CodeEntry = {
      tokenId, token, codeDigest: digest, parcelId: parcel.parcelId, compartmentId: parcel.compartmentId, size: parcel.size, kind: 'pickup',
    };
    return { entry, code, token };
  }

  /** A code that is not `code` and not live either: what a guessing customer types. */
  wrongCode(code: string, codeInUse: (digest: string) => boolean): string {
    return unusedCode(this.options.pepper, this.options.lockerId, this.codeLength, (digest) => digest === codeDigest(this.options.pepper, this.options.lockerId, code) || codeInUse(digest));
  }

  /** A delta on top of the locker's current version, carrying the trust change every time. */
  delta(fromVersion: number, upserts: CodeEntry[]): CodeBatch {
    return {
      lockerId: this.options.lockerId,
      kind: 'delta',
      fromVersion,
      toVersion: fromVersion + 1,
      upserts,
      revocations: [],
      keyring: [this.trustChange()],
    };
  }

  private randomCode(): string {
    return randomCode(this.codeLength);
  }
}

/** Uniform over every digit string: the lockout policy's guessing math assumes the full space. */
function randomCode(length: number): string {
  let code = '';
  while (code.length < length) code += String(randomInt(0, 10));
  return code;
}

/** A code that opens nothing on the locker (its digest is not live): what a guessing customer types. */
export function unusedCode(pepper: Uint8Array, lockerId: string, length: number, codeInUse: (digest: string) => boolean): string {
  let code: string;
  do code = randomCode(length);
  while (codeInUse(codeDigest(pepper, lockerId, code)));
  return code;
}
