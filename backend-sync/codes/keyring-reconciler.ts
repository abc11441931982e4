import type { KeyStore } from '../keys/key-store.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { keyringHash, type CodeSetService } from './code-set-service.js';
import { touchLockers } from './touch-all-lockers.js';

// Sends the keyring to lockers that were left behind. A key reload bumps every locker's set,
// but a reload cut short (process stopped, deploy) leaves the rest unbumped, and an instance
// started on a keys directory with a new key bumps nobody: those lockers learn the new key
// only with their next parcel, and meanwhile refuse courier credentials signed by it. This
// sweeper task finds lockers last sent another keyring that do not trust the key this
// instance signs with, and have nothing waiting to be published, and bumps their sets (100
// per transaction, in id order like every multi-locker change): the next batch carries the
// keyring. It scans once per keyring and active key, and again every `rescanMs`. An
// instance on an older keys directory signs with a key the lockers still trust, so it
// never bumps them back.

const BATCH = 100;

export interface KeyringReconcilerDeps {
  store: Store;
  keys: KeyStore;
  codeSets: CodeSetService;
  clock: Clock;
  logger: Logger;
  /** A scan that found nothing is repeated after this long even with the same keyring. */
  rescanMs?: number;
  batch?: number;
}

export class KeyringReconciler {
  private readonly log: Logger;
  private scanned: { key: string; at: number } | undefined;

  constructor(private readonly d: KeyringReconcilerDeps) {
    this.log = d.logger.child({ component: 'keys' });
  }

  /** One pass; resolves to the lockers whose sets it bumped. */
  async run(): Promise<number> {
    const { store, keys, codeSets, clock } = this.d;
    // While this instance cannot sign, its activeKid is a revoked kid no locker should
    // trust: measuring lockers against it would bump them for nothing.
    if (!keys.signingAvailable) return 0;
    const hash = keyringHash(await keys.keyringChanges());
    const activeKid = keys.activeKid;
    const key = `${hash}:${activeKid}`;
    const now = clock.now();
    if (this.scanned !== undefined && this.scanned.key === key && now - this.scanned.at < (this.d.rescanMs ?? 10 * 60_000)) return 0;
    const batch = this.d.batch ?? BATCH;
    let bumped = 0;
    let after = '';
    for (;;) {
      const ids = await store.codeSets.lockersMissingKeyring(hash, activeKid, after, batch);
      if (ids.length === 0) break;
      // Checked again under each set's lock: another instance may have bumped it meanwhile.
      bumped += await touchLockers(store, codeSets, ids, { batch, skip: (set) => set.version > set.publishedVersion || set.keyringSentHash === hash });
      after = ids[ids.length - 1] as string;
      if (ids.length < batch) break;
    }
    this.scanned = { key, at: now };
    if (bumped > 0) this.log.info({ activeKid, lockers: bumped }, 'keys.keyring_resent');
    return bumped;
  }
}
