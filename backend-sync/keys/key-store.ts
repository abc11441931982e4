import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackendSigner, TokenIssuer, keyToText, publicKeyFromText, seedFromText, type Ed25519, type KeyringChange } from '../shared/contract.js';
import type { Clock } from '../shared/clock.js';
import { BackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { SigningKeyRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { CodeBox } from './code-box.js';

// The backend's Ed25519 signing keys. Files come from scripts/keygen.ts (<kid>.key = seed,
// <kid>.pub = public key, base64url); the database remembers every kid ever seen, when it
// was retired (another kid became active) and whether it was revoked, so trust outlives
// the key file.
//
// Rotation: the active kid signs new tokens. A retired kid stays trusted on lockers with
// notAfter = retiredAt + the longest token lifetime, so tokens it signed keep working
// until they expire anyway. Revocation: the kid goes out to every locker as 'revoke' (a
// sticky tombstone there) and the tokens it signed are re-issued (codes unchanged).

const KID = /^[A-Za-z0-9_-]{1,64}$/;

export interface KeyStoreOptions {
  ed: Ed25519;
  dir: string;
  activeKid?: string | undefined;
  issuer: string;
  revokedKids: readonly string[];
  /** Longest lifetime of any token a key signs: how long a retired key stays trusted. */
  maxTokenLifetimeMs: number;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** The data key sealing codes at rest lives in the same directory and loads with the signing keys. */
  codeBox?: CodeBox | undefined;
}

interface LoadedKey {
  kid: string;
  seed: Uint8Array;
  publicKey: string;
}

/** Why an instance stopped signing with its key: another instance revoked it, or rotated past it. */
export type KeyLossCause = 'revoked' | 'retired';

/** What followRevocations found and did. */
export type RevocationFollow =
  | { outcome: 'unchanged' }
  | { outcome: 'switched'; previousKid: string; cause: KeyLossCause; activeKid: string }
  | { outcome: 'restored'; activeKid: string }
  | { outcome: 'disabled'; previousKid: string; cause: KeyLossCause; reason: string };

export class KeyStore {
  private readonly signers = new Map<string, { issuer: TokenIssuer; seal: BackendSigner }>();
  private activeKidValue = '';
  /** Set while this instance has no key it may sign with (why); cleared by a load that finds one. */
  private unusable: { previousKid: string; cause: KeyLossCause; reason: string } | undefined;

  private readonly availabilityListeners: Array<(available: boolean) => void> = [];
  private lastNotified = true;

  constructor(private readonly options: KeyStoreOptions) {}

  /** Told when signingAvailable changes (after load or followRevocations settles). */
  onSigningAvailability(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  /** Tells the listeners when signingAvailable differs from what they were last told (load and a follow may overlap). */
  private settled(): void {
    if (this.signingAvailable === this.lastNotified) return;
    this.lastNotified = this.signingAvailable;
    const log = this.options.logger.child({ component: 'keys' });
    for (const l of this.availabilityListeners) {
      // One listener failing must not keep the others (or the caller) from the news.
      try {
        l(this.signingAvailable);
      } catch (err) {
        log.error({ err, available: this.signingAvailable }, 'keys.availability_listener_failed');
      }
    }
  }

  /**
   * Reads the key directory and records what it chose; throws CONFIG_INVALID when there is
   * nothing it may sign with. The newest key the fleet has not retired becomes active: a
   * key never seen before (a rotation) or the fleet's active key. A retired key never comes
   * back by itself: an instance started with an old directory would otherwise retire the
   * fleet's active key and leave every other instance without one. Going back to a retired
   * key takes keys.activeKid, which clears its retirement.
   *
   * The read and the choice happen under lockForChange, in the transaction that writes
   * them: two instances loading at once (one on an older directory, one rotating) would
   * otherwise each retire the other's choice and leave the fleet with no active key. Only
   * the key that was active is retired; other keys in the directory are not recorded, so a
   * key staged beside a pinned one can still become active once the pin goes.
   */
  async load(): Promise<void> {
    const { ed, store, clock } = this.options;
    const log = this.options.logger.child({ component: 'keys' });
    const keys = readKeyDir(this.options.dir, ed);
    this.options.codeBox?.load();
    if (keys.length === 0) throw new BackendError('CONFIG_INVALID', 'no signing keys in the keys directory', { dir: this.options.dir });
    const now = clock.now();
    const choice = await store.transaction(async () => {
      await store.signingKeys.lockForChange();
      const rows = await store.signingKeys.all();
      const c = chooseActiveKey(keys, rows, this.options.activeKid, this.options.revokedKids);
      await store.signingKeys.upsertSeen(c.active.kid, c.active.publicKey, now);
      if (c.reactivated) await store.signingKeys.unretire(c.active.kid);
      for (const k of rows) if (k.kid !== c.active.kid && k.retiredAt === undefined) await store.signingKeys.retire(k.kid, now);
      for (const kid of this.options.revokedKids) await store.signingKeys.revoke(kid, now);
      return c;
    });
    this.installSigners(choice.usable);
    this.activeKidValue = choice.active.kid;
    const wasUnusable = this.unusable;
    this.unusable = undefined;
    this.settled();
    if (choice.reactivated) log.warn({ kid: choice.active.kid }, 'keys.retired_key_reactivated');
    if (wasUnusable !== undefined) log.info({ activeKid: choice.active.kid, previousKid: wasUnusable.previousKid }, 'keys.signing_restored');
    log.info({ activeKid: choice.active.kid, kids: keys.map((k) => k.kid), revoked: [...choice.revoked] }, 'keys.loaded');
  }

  get activeKid(): string {
    return this.activeKidValue;
  }

  /** False while this instance's key was revoked elsewhere and its directory lacks the fleet's active key (health, metrics). */
  get signingAvailable(): boolean {
    return this.unusable === undefined;
  }

  /** Throws SIGNING_UNAVAILABLE while signingAvailable is false: call before storing work that must be signed. */
  assertSigningAvailable(): void {
    if (this.unusable === undefined) return;
    throw new BackendError('SIGNING_UNAVAILABLE', `this instance has no usable signing key: its key was ${this.unusable.cause} and the keys directory lacks the active key of the fleet`, {
      previousKid: this.unusable.previousKid,
      cause: this.unusable.cause,
      reason: this.unusable.reason,
    });
  }

  /**
   * Catches up with revocations and rotations another instance made. A kid revoked
   * elsewhere is dropped from this instance's signers. When it is the kid this instance
   * signs with, or that kid was retired (another instance rotated, or a pin rolled back:
   * lockers trust a retired kid only until retiredAt + the longest token lifetime, so
   * tokens it kept signing would stop opening doors before they expire), the instance
   * follows the key the database holds active (neither retired nor revoked: the one the
   * other instance switched to), provided its keys directory has that key.
   * It never picks a key of its own choosing: an old key left in the directory, or one the
   * fleet never saw, would sign tokens the lockers distrust, and choosing it the way load()
   * does would retire the fleet's active key. Nothing is written to the database here.
   * Without the active key in its directory the instance stops signing
   * (SIGNING_UNAVAILABLE) rather than issue tokens and seal batches every locker refuses,
   * and tries again on each call, so copying the key file in brings it back.
   */
  async followRevocations(): Promise<RevocationFollow> {
    try {
      return await this.follow();
    } finally {
      this.settled();
    }
  }

  private async follow(): Promise<RevocationFollow> {
    const rows = await this.options.store.signingKeys.all();
    const revoked = new Set(rows.filter((k) => k.revokedAt !== undefined).map((k) => k.kid));
    for (const kid of [...this.signers.keys()]) if (revoked.has(kid)) this.signers.delete(kid);
    const wasUnusable = this.unusable;
    const own = rows.find((k) => k.kid === this.activeKidValue);
    const lost: KeyLossCause | undefined = revoked.has(this.activeKidValue) ? 'revoked' : own?.retiredAt !== undefined ? 'retired' : undefined;
    if (wasUnusable === undefined && lost === undefined) return { outcome: 'unchanged' };
    const previousKid = wasUnusable?.previousKid ?? this.activeKidValue;
    const cause = wasUnusable?.cause ?? lost ?? 'revoked';
    // Unusable from here until a key is installed: a failure below (reading the key files)
    // then answers 503 SIGNING_UNAVAILABLE, not a 500 from a missing signer.
    this.unusable ??= { previousKid, cause, reason: `following a key ${cause} elsewhere` };
    const disable = (reason: string): RevocationFollow => {
      this.unusable = { previousKid, cause, reason };
      return { outcome: 'disabled', previousKid, cause, reason };
    };
    // load() leaves one kid neither retired nor revoked; should two ever be, the newest.
    const fleetActive = rows.filter((k) => k.revokedAt === undefined && k.retiredAt === undefined && !this.options.revokedKids.includes(k.kid)).map((k) => k.kid).sort().reverse()[0];
    if (fleetActive === undefined) return disable('no signing key is active in the database');
    if (this.options.activeKid !== undefined && this.options.activeKid !== fleetActive) return disable(`keys.activeKid pins ${this.options.activeKid}; the active key is ${fleetActive}`);
    let keys: LoadedKey[];
    try {
      keys = readKeyDir(this.options.dir, this.options.ed);
    } catch (err) {
      if (!(err instanceof BackendError) || err.code !== 'CONFIG_INVALID') throw err;
      return disable(err.message);
    }
    // Same kid and same public key: a file named after the active kid but holding another
    // key would sign tokens no locker can verify.
    const fleetPublicKey = rows.find((k) => k.kid === fleetActive)?.publicKey;
    if (!keys.some((k) => k.kid === fleetActive && k.publicKey === fleetPublicKey)) return disable(`the active signing key ${fleetActive} is not in the keys directory`);
    const next = fleetActive;
    this.installSigners(keys.filter((k) => !revoked.has(k.kid) && !this.options.revokedKids.includes(k.kid)));
    this.activeKidValue = next;
    this.unusable = undefined;
    return wasUnusable === undefined ? { outcome: 'switched', previousKid, cause, activeKid: next } : { outcome: 'restored', activeKid: next };
  }

  private installSigners(keys: readonly LoadedKey[]): void {
    const { ed, clock } = this.options;
    this.signers.clear();
    for (const k of keys) {
      this.signers.set(k.kid, {
        issuer: new TokenIssuer({ ed, kid: k.kid, seed: k.seed, issuer: this.options.issuer }),
        seal: new BackendSigner({ ed, kid: k.kid, seed: k.seed, now: () => clock.now() }),
      });
    }
  }

  /** Signs new tokens. */
  tokenIssuer(): TokenIssuer {
    this.assertSigningAvailable();
    const s = this.signers.get(this.activeKidValue);
    if (s === undefined) throw new BackendError('INTERNAL', 'key store not loaded');
    return s.issuer;
  }

  /**
   * The seal signer for a locker: the active key if the locker already trusts it, else the
   * newest key we can sign with that it does trust. A batch introducing a new key must be
   * sealed by a key the locker knows, or it would reject the very batch that teaches it.
   * Revocations are read from the database: another instance may have revoked a kid.
   */
  async sealSignerFor(trustedKids: readonly string[]): Promise<BackendSigner> {
    this.assertSigningAvailable();
    const active = this.signers.get(this.activeKidValue);
    if (active === undefined) throw new BackendError('INTERNAL', 'key store not loaded');
    if (trustedKids.length === 0 || trustedKids.includes(this.activeKidValue)) return active.seal;
    const revoked = await this.revokedKids();
    const candidates = trustedKids.filter((k) => this.signers.has(k) && !revoked.has(k)).sort().reverse();
    const kid = candidates[0];
    return kid === undefined ? active.seal : (this.signers.get(kid)?.seal ?? active.seal);
  }

  /** Whether this instance holds the key of one of `kids` (the ones sealSignerFor may pick). */
  canSealWithOneOf(kids: readonly string[]): boolean {
    return kids.some((k) => this.signers.has(k));
  }

  async revokedKids(): Promise<Set<string>> {
    return new Set((await this.options.store.signingKeys.all()).filter((k) => k.revokedAt !== undefined).map((k) => k.kid));
  }

  /**
   * Throws unless `kid` may be revoked: a known key the fleet has retired. Checked against
   * the database, not this instance's memory: an instance still signing with an older key
   * must not revoke the key every other instance signs with.
   */
  async assertRevocable(kid: string): Promise<void> {
    this.assertSigningAvailable();
    if (kid === this.activeKidValue) throw new BackendError('BUSINESS_RULE', 'the active signing key cannot be revoked; activate another first', { kid });
    const row = (await this.options.store.signingKeys.all()).find((k) => k.kid === kid);
    if (row === undefined) throw new BackendError('NOT_FOUND', 'signing key not found', { kid });
    if (row.retiredAt === undefined && row.revokedAt === undefined) {
      throw new BackendError('BUSINESS_RULE', 'the active signing key of the fleet cannot be revoked; activate another first', { kid, activeKid: this.activeKidValue });
    }
  }

  /**
   * Marks a kid revoked (persisted); the caller re-issues its tokens and pushes the change.
   * Checked and written under lockForChange: an instance pinning that kid back (load) at the
   * same moment would otherwise make it active just before it is revoked, leaving the fleet
   * no key to sign with.
   */
  async revoke(kid: string): Promise<boolean> {
    const { store, clock } = this.options;
    const changed = await store.transaction(async () => {
      await store.signingKeys.lockForChange();
      await this.assertRevocable(kid);
      return store.signingKeys.revoke(kid, clock.now());
    });
    this.signers.delete(kid);
    return changed;
  }

  /**
   * The keyring every locker should hold, as idempotent changes (trust/revoke), sorted by
   * kid. From the database, not memory: it is what every instance agrees on.
   */
  async keyringChanges(): Promise<KeyringChange[]> {
    const out: KeyringChange[] = [];
    for (const k of await this.options.store.signingKeys.all()) {
      if (k.revokedAt !== undefined) {
        out.push({ op: 'revoke', kid: k.kid });
        continue;
      }
      if (k.retiredAt !== undefined && k.kid !== this.activeKidValue) {
        out.push({ op: 'trust', kid: k.kid, publicKey: k.publicKey, notAfter: k.retiredAt + this.options.maxTokenLifetimeMs });
      } else {
        out.push({ op: 'trust', kid: k.kid, publicKey: k.publicKey });
      }
    }
    return out;
  }

  /** Kids a locker holding keyringChanges() trusts right now. */
  async trustedKids(now: number): Promise<string[]> {
    return (await this.keyringChanges())
      .filter((c) => c.op === 'trust' && (c.notAfter === undefined || now <= c.notAfter))
      .map((c) => c.kid);
  }
}

interface KeyChoice {
  active: LoadedKey;
  /** Keys of the directory this instance may sign with (seal signers for lockers behind). */
  usable: LoadedKey[];
  revoked: Set<string>;
  /** The pinned key was retired: the pin brings it back. */
  reactivated: boolean;
}

/** load()'s decision from the directory, the database rows and the config; throws CONFIG_INVALID. */
function chooseActiveKey(keys: readonly LoadedKey[], rows: readonly SigningKeyRecord[], pinned: string | undefined, configRevoked: readonly string[]): KeyChoice {
  const known = new Map(rows.map((k) => [k.kid, k]));
  for (const k of keys) {
    const seen = known.get(k.kid);
    // Tokens it signed would carry a kid every locker maps to the other public key.
    if (seen !== undefined && seen.publicKey !== k.publicKey) throw new BackendError('CONFIG_INVALID', 'key file holds another key than the one the fleet knows under its kid', { kid: k.kid });
  }
  const revoked = new Set(configRevoked);
  for (const k of rows) if (k.revokedAt !== undefined) revoked.add(k.kid);
  const usable = keys.filter((k) => !revoked.has(k.kid)).sort((a, b) => (a.kid < b.kid ? 1 : -1));
  const kid = pinned ?? usable.find((k) => known.get(k.kid)?.retiredAt === undefined)?.kid;
  if (kid === undefined && usable.length > 0) {
    const fleetActive = rows.find((k) => k.retiredAt === undefined && !revoked.has(k.kid))?.kid ?? null;
    throw new BackendError('CONFIG_INVALID', 'every key in the keys directory is retired: copy in the active key of the fleet, add a new key, or pin keys.activeKid', { kids: usable.map((k) => k.kid), fleetActive });
  }
  const active = usable.find((k) => k.kid === kid);
  if (kid === undefined || active === undefined) throw new BackendError('CONFIG_INVALID', 'active signing key is missing or revoked', { kid: kid ?? null });
  return { active, usable, revoked, reactivated: known.get(kid)?.retiredAt !== undefined };
}

function readKeyDir(dir: string, ed: Ed25519): LoadedKey[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new BackendError('CONFIG_INVALID', 'cannot read the keys directory', { dir, cause: String(err) });
  }
  const out: LoadedKey[] = [];
  for (const name of names) {
    if (!name.endsWith('.key')) continue;
    const kid = name.slice(0, -4);
    if (!KID.test(kid)) throw new BackendError('CONFIG_INVALID', 'key file name is not a valid kid', { file: name });
    let seed: Uint8Array;
    let publicKey: string;
    try {
      seed = seedFromText(readFileSync(join(dir, name), 'utf8'));
      publicKey = keyToText(ed.importPrivateKey(seed).publicKey);
    } catch (err) {
      throw new BackendError('CONFIG_INVALID', 'key file does not hold an Ed25519 seed', { file: name, cause: err instanceof Error ? err.message : String(err) });
    }
    let pubKey: string | undefined;
    try {
      pubKey = names.includes(`${kid}.pub`) ? keyToText(publicKeyFromText(readFileSync(join(dir, `${kid}.pub`), 'utf8').trim())) : undefined;
    } catch (err) {
      throw new BackendError('CONFIG_INVALID', 'public key file cannot be read as an Ed25519 public key', { file: `${kid}.pub`, cause: err instanceof Error ? err.message : String(err) });
    }
    if (pubKey !== undefined && pubKey !== publicKey) throw new BackendError('CONFIG_INVALID', 'public key file does not match the private key', { kid });
    out.push({ kid, seed, publicKey });
  }
  return out;
}
