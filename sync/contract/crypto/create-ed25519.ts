import type { Ed25519, Ed25519Kind } from './ed25519.js';
import { createNodeCryptoEd25519 } from './node-crypto-ed25519.js';
import { createTweetnaclEd25519 } from './tweetnacl-ed25519.js';

// The one place that chooses an implementation; composition roots call it with the kind
// from config ('node-crypto' unless the board's OpenSSL lacks Ed25519).
export function createEd25519(kind: Ed25519Kind = 'node-crypto'): Ed25519 {
  switch (kind) {
    case 'node-crypto':
      return createNodeCryptoEd25519();
    case 'tweetnacl':
      return createTweetnaclEd25519();
  }
}
