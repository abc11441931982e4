import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { Logger } from '../logger.js';
import type { KeyringRow, RuntimeStore } from '../store/runtime-store.js';
import { mergeKeyringRows } from '@locker/contract/tokens/bootstrap-keyring.js';
import type { TokenPurpose } from '@locker/contract/tokens/claims.js';
import { Keyring } from '@locker/contract/tokens/keyring.js';
import { verifyToken, type TokenVerification } from '../tokens/token-verifier.js';

// Offline token verification with the keyring loaded from the store, merged over the
// bootstrap keys of the config file (the store's row wins, so a revocation sticks). The
// keyring is rebuilt after a code batch changed the rows (reload).
export class TokenGate {
  private keyring: Keyring;

  constructor(
    private readonly store: RuntimeStore,
    private readonly ed: Ed25519,
    private readonly lockerId: string,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly bootstrap: readonly KeyringRow[] = [],
  ) {
    this.keyring = Keyring.empty(ed);
  }

  reload(): void {
    const keyring = Keyring.fromRows(this.ed, mergeKeyringRows(this.bootstrap, this.store.keyringRows()));
    if (keyring.invalidKids.length > 0) this.log.error({ kids: keyring.invalidKids }, 'keyring.invalid-keys');
    this.keyring = keyring;
    this.log.info({ keys: keyring.rows().length }, 'keyring.loaded');
  }

  /** The keyring as it is now (the sync agent verifies batch manifests with it). */
  current(): Keyring {
    return this.keyring;
  }

  /** Verifies at trusted now, or at `at` (the expiry sweep asks "expired a day ago?"). */
  verify(token: string, purposes: readonly TokenPurpose[], at: number = this.now()): TokenVerification {
    return verifyToken({ token, lockerId: this.lockerId, now: at, purposes }, this.keyring, this.ed);
  }
}
