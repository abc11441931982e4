import type { KeyStore } from '../keys/key-store.js';
import { isBackendError, BackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { keyringHash, type CodeSetService } from './code-set-service.js';
import { touchAllLockers } from './touch-all-lockers.js';

// Re-reads the keys directory without a restart (POST /admin/keys/reload, SIGHUP): a key
// added by scripts/keygen.ts becomes active (newest kid, or keys.activeKid), the previous
// one retires and stays trusted as decision 0013 describes. A directory that cannot be
// loaded leaves the keys in use untouched. When the keyring changed, every locker's set is
// touched so the new keyring goes out now, not with the next parcel: courier credentials
// signed by the new key would otherwise be refused by lockers that have not seen it.

export interface KeyReloadResult {
  activeKid: string;
  previousKid: string;
  keyringChanged: boolean;
  lockersNotified: number;
}

export async function reloadSigningKeys(deps: { store: Store; keys: KeyStore; codeSets: CodeSetService; logger: Logger }): Promise<KeyReloadResult> {
  const { store, keys, codeSets } = deps;
  const log = deps.logger.child({ component: 'keys' });
  const previousKid = keys.activeKid;
  const before = keyringHash(await keys.keyringChanges());
  try {
    await keys.load();
  } catch (err) {
    if (!isBackendError(err, 'CONFIG_INVALID')) throw err;
    log.error({ reason: err.message, ...err.details }, 'keys.reload_failed');
    // While signing is unavailable (KeyStore.followRevocations) there are no keys in use to keep.
    const kept = keys.signingAvailable ? 'the keys in use are unchanged' : 'signing stays unavailable';
    throw new BackendError('BUSINESS_RULE', `the keys directory cannot be loaded; ${kept}`, { reason: err.message, signingAvailable: keys.signingAvailable });
  }
  const keyringChanged = keyringHash(await keys.keyringChanges()) !== before;
  let lockersNotified = 0;
  if (keyringChanged) lockersNotified = await touchAllLockers(store, codeSets);
  log.info({ activeKid: keys.activeKid, previousKid, keyringChanged, lockersNotified }, 'keys.reloaded');
  return { activeKid: keys.activeKid, previousKid, keyringChanged, lockersNotified };
}
