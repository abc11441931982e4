import { decodeBase64UrlStrict, encodeBase64Url } from '../crypto/base64url.js';
import { ED25519_SIGNATURE_LENGTH, type Ed25519, type PrivateKeyHandle, type PublicKeyHandle } from '../crypto/ed25519.js';
import { ContractError } from '../contract-error.js';

// PASETO v4.public (https://github.com/paseto-standard/paseto-spec, Version4.md): an
// Ed25519 signature over PAE(header, message, footer, implicit assertion). The version and
// purpose are fixed by the header, so there is no algorithm field to confuse.
//
// Parsing is strict: one header, canonical unpadded base64url, bounded sizes. Anything
// else is TOKEN_MALFORMED before a signature is checked. Errors never carry the token.

export const V4_PUBLIC_HEADER = 'v4.public.';
/** Longest token we look at; longer input is rejected before any decoding. */
export const MAX_TOKEN_LENGTH = 2048;

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Pre-authentication encoding: LE64(count) || for each piece LE64(length) || piece. */
export function pae(pieces: readonly Uint8Array[]): Uint8Array {
  const total = 8 + pieces.reduce((n, p) => n + 8 + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  // PASETO clears the top bit of every length; lengths here are far below 2^53 anyway.
  view.setBigUint64(0, BigInt(pieces.length), true);
  let offset = 8;
  for (const piece of pieces) {
    view.setBigUint64(offset, BigInt(piece.length) & 0x7fffffffffffffffn, true);
    offset += 8;
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

/** The parts of a structurally valid v4.public token; the signature is not yet checked. */
export interface DecodedV4Public {
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  readonly footerBytes: Uint8Array;
  readonly footer: string;
}

function malformed(reason: string): ContractError {
  return new ContractError('TOKEN_MALFORMED', 'malformed v4.public token', { reason });
}

function splitToken(token: unknown): { body: string; footer: string | undefined } {
  if (typeof token !== 'string') throw malformed('not-a-string');
  if (token.length > MAX_TOKEN_LENGTH) throw malformed('oversized');
  if (!token.startsWith(V4_PUBLIC_HEADER)) throw malformed('header');
  const parts = token.slice(V4_PUBLIC_HEADER.length).split('.');
  if (parts.length > 2) throw malformed('segments');
  const [body, footer] = parts;
  if (body === undefined || body.length === 0) throw malformed('empty-payload');
  // An empty footer is written by omitting the segment, so "…payload." has no valid meaning.
  if (footer !== undefined && footer.length === 0) throw malformed('empty-footer');
  return { body, footer };
}

function decodeFooter(segment: string | undefined): { footerBytes: Uint8Array; footer: string } {
  if (segment === undefined) return { footerBytes: new Uint8Array(0), footer: '' };
  const footerBytes = decodeBase64UrlStrict(segment);
  if (footerBytes === undefined) throw malformed('footer-encoding');
  try {
    return { footerBytes, footer: strictUtf8.decode(footerBytes) };
  } catch {
    throw malformed('footer-utf8');
  }
}

/** Structural decoding only. Throws ContractError TOKEN_MALFORMED. */
export function decodeV4Public(token: string): DecodedV4Public {
  const { body, footer: footerSegment } = splitToken(token);
  const decoded = decodeBase64UrlStrict(body);
  if (decoded === undefined) throw malformed('payload-encoding');
  if (decoded.length < ED25519_SIGNATURE_LENGTH) throw malformed('payload-short');
  const split = decoded.length - ED25519_SIGNATURE_LENGTH;
  return {
    message: decoded.subarray(0, split),
    signature: decoded.subarray(split),
    ...decodeFooter(footerSegment),
  };
}

/**
 * The footer as text, WITHOUT verifying anything: only to find which key (kid) to verify
 * with. Never trust its content beyond that. '' when the token has no footer.
 * Throws ContractError TOKEN_MALFORMED.
 */
export function peekFooter(token: string): string {
  return decodeFooter(splitToken(token).footer).footer;
}

/**
 * The length signV4Public gives a token for a message of `messageLength` bytes and `footer`:
 * unpadded base64url of message ‖ signature, and of the footer. Lets a signer check that
 * claims fit MAX_TOKEN_LENGTH before it signs (backend-signer.ts, audit acks).
 */
export function v4PublicTokenLength(messageLength: number, footer: string): number {
  const b64 = (n: number): number => Math.ceil((4 * n) / 3);
  const footerBytes = encoder.encode(footer).length;
  return V4_PUBLIC_HEADER.length + b64(messageLength + ED25519_SIGNATURE_LENGTH) + (footerBytes === 0 ? 0 : 1 + b64(footerBytes));
}

export function signV4Public(ed: Ed25519, key: PrivateKeyHandle, message: Uint8Array, footer: string, implicitAssertion: string): string {
  const footerBytes = encoder.encode(footer);
  const m2 = pae([encoder.encode(V4_PUBLIC_HEADER), message, footerBytes, encoder.encode(implicitAssertion)]);
  const signature = ed.sign(key, m2);
  const body = new Uint8Array(message.length + signature.length);
  body.set(message, 0);
  body.set(signature, message.length);
  const token = V4_PUBLIC_HEADER + encodeBase64Url(body) + (footer === '' ? '' : `.${encodeBase64Url(footerBytes)}`);
  if (token.length > MAX_TOKEN_LENGTH) throw new ContractError('TOKEN_CLAIMS', 'signed token exceeds the maximum length', { length: token.length });
  return token;
}

/** Checks the signature of an already decoded token. Throws ContractError TOKEN_SIGNATURE. */
export function verifyDecodedV4Public(ed: Ed25519, key: PublicKeyHandle, decoded: DecodedV4Public, implicitAssertion: string): { message: Uint8Array; footer: string } {
  const m2 = pae([encoder.encode(V4_PUBLIC_HEADER), decoded.message, decoded.footerBytes, encoder.encode(implicitAssertion)]);
  if (!ed.verify(key, m2, decoded.signature)) throw new ContractError('TOKEN_SIGNATURE', 'v4.public signature does not verify');
  return { message: Uint8Array.from(decoded.message), footer: decoded.footer };
}

/** Throws ContractError TOKEN_MALFORMED or TOKEN_SIGNATURE. */
export function verifyV4Public(ed: Ed25519, key: PublicKeyHandle, token: string, implicitAssertion: string): { message: Uint8Array; footer: string } {
  return verifyDecodedV4Public(ed, key, decodeV4Public(token), implicitAssertion);
}
