import { z } from 'zod';
import type { Key } from '@locker/hal/types.js';
import { chooseCompartment } from '../core/compartment-choice.js';
import { courierPrefixPrompt, courierSessionStep, noCourierSession, type CourierSessionEffect, type CourierSessionInput, type CourierSessionState, type DepositSlot, type ReslotReason } from '../core/courier-session.js';
import { doorOpenMessage, messages } from '../core/display-messages.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore, StoredCodeEntry } from '../store/runtime-store.js';
import type { TokenClaims } from '@locker/contract/tokens/claims.js';
import type { Display } from './display.js';
import type { DoorController } from './door-controller.js';
import type { StorageHealth, WriteTime } from './storage-health.js';
import type { NamedTimers } from './timers.js';
import type { TokenGate } from './token-gate.js';
import { reportNeedsCheck } from './unknown-open.js';

// Courier deposit sessions and return retrieval. The session logic is core/courier-session;
// this file resolves parcel scans against the store, picks compartments, starts opens and
// writes the results (deposit confirmed = markDeposited + compartment occupied + audit, in
// one transaction).

export interface CourierFlowDeps {
  store: RuntimeStore;
  tokens: TokenGate;
  doors: DoorController;
  display: Display;
  timers: NamedTimers;
  sessionMs: number;
  now: () => number;
  log: Logger;
  /**
   * A deposit or retrieval the full disk refused waits there; meanwhile a deposit's
   * compartment is held occupied and a retrieval's credential spent.
   */
  storage: Pick<StorageHealth, 'writeOrDefer' | 'occupiedPending' | 'spentPending' | 'commitOrThrow'>;
}

/** How long after the courier prefix (Cancel) a re-slot key is taken as the courier's. */
export const COURIER_PREFIX_MS = 5_000;

// The deposit in progress, durable: written in the commit that journals its open, cleared
// in the commit that confirms it (or when the session leaves the slot without a deposit).
// The session itself is memory; a restart in between (stop or crash with the courier at
// the door) finds this record and hands the compartment to a technician (start()).
const DEPOSIT_KEY = 'courier-deposit';
const PendingDeposit = z.object({ opId: z.string(), compartmentId: z.string(), tokenId: z.string(), parcelId: z.string() }).strict();
const DepositBlob = z.object({ deposit: PendingDeposit.nullable() }).strict();
type PendingDeposit = z.infer<typeof PendingDeposit>;

export class CourierFlow {
  private state: CourierSessionState = noCourierSession;
  /** Trusted time until which the courier prefix is armed (0: not armed). */
  private prefixUntil = 0;
  /** A deposit record is in the store (so leaving the slot must clear it). */
  private depositRecorded = false;

  constructor(private readonly deps: CourierFlowDeps) {}

  /**
   * At start, after the doors: a deposit the last run left between "door opening" and
   * "deposit confirmed". The parcel may be inside or in the courier's hands; only a person
   * can tell. The compartment goes out of service ('needs-check', so nothing is deposited
   * on top of it) with a priority technician.task naming the parcel; the entry stays
   * awaiting deposit (docs/operations.md, "A courier deposit cut by a restart").
   */
  start(): void {
    const { store, log } = this.deps;
    const json = store.loadState(DEPOSIT_KEY);
    if (json === undefined) return;
    const parsed = DepositBlob.safeParse(parseJson(json));
    if (!parsed.success) {
      log.error({}, 'courier.deposit-record-corrupt');
      store.saveState(DEPOSIT_KEY, JSON.stringify({ deposit: null }));
      return;
    }
    const pending = parsed.data.deposit;
    if (pending === null) return;
    // On a disk still full at boot this waits for space; the compartment is held occupied
    // meanwhile, so no other parcel goes on top of the one that may be inside.
    this.deps.storage.writeOrDefer(store, 'courier:start', 'technician.task', (s, { late }) => {
      reportNeedsCheck(s, { compartmentId: pending.compartmentId, cause: 'deposit-interrupted', opId: pending.opId, tokenId: pending.tokenId, parcelId: pending.parcelId, late });
      s.saveState(DEPOSIT_KEY, JSON.stringify({ deposit: null }));
    }, { occupiedCompartmentId: pending.compartmentId });
    log.warn(pending, 'courier.deposit-interrupted');
  }

  get session(): CourierSessionState {
    return this.state;
  }

  /**
   * Keys the courier session wants; all others go to the keypad, which customers share.
   * With a deposit door open only Cancel (the courier prefix) is taken, and then, within
   * COURIER_PREFIX_MS, one of 1, 2 or Enter. Digits and Enter are never taken unprefixed
   * (a customer's code must not re-slot a parcel or be swallowed), and nothing is taken
   * while a customer is typing a code (their Cancel clears their entry).
   */
  wantsKey(key: Key, customerTyping: boolean): boolean {
    const { state } = this;
    if (state.kind === 'door-open' && !state.abandoned) {
      if (this.prefixArmed()) return key === '1' || key === '2' || key === 'enter';
      return key === 'cancel' && !customerTyping;
    }
    return state.kind === 'ready' && key === 'cancel' && !customerTyping;
  }

  onKey(key: Key): void {
    const { state } = this;
    if (state.kind === 'door-open' && key === 'cancel') {
      this.prefixUntil = this.deps.now() + COURIER_PREFIX_MS;
      this.deps.display.beep('key');
      this.deps.display.show(courierPrefixPrompt(state.slot.compartmentId, state.verified));
      return;
    }
    this.prefixUntil = 0;
    this.step({ type: 'key', key });
  }

  private prefixArmed(): boolean {
    return this.deps.now() < this.prefixUntil;
  }

  onCourierCredential(claims: TokenClaims): void {
    const { store, display, storage } = this.deps;
    // A full card the storage reserve's release made room on takes these at the second try:
    // the courier gets the answer, not "temporarily unavailable".
    if (store.isTokenRevoked(claims.jti)) {
      storage.commitOrThrow('courier:rejected', () => store.appendAudit('courier.rejected', 'normal', { tokenId: claims.jti, reason: 'revoked' }));
      display.flash(messages.notValid, 'error');
      return;
    }
    storage.commitOrThrow('courier:session-start', () => store.appendAudit('courier.session-started', 'normal', { tokenId: claims.jti, ...(claims.sub === undefined ? {} : { sub: claims.sub }) }));
    this.step({ type: 'credential', courier: { tokenId: claims.jti, expiresAt: Date.parse(claims.exp), ...(claims.sub === undefined ? {} : { sub: claims.sub }) } });
  }

  /** A barcode scanned while a session is ready. Returns false when no session wants it. */
  onParcelScan(parcelId: string): boolean {
    if (this.state.kind !== 'ready') return false;
    if (!this.credentialStillValid()) return true;
    const entry = this.deps.store.findEntriesByParcel(parcelId).find((e) => e.kind === 'pickup' && e.state === 'awaiting-deposit');
    if (entry === undefined) {
      this.step({ type: 'parcel-refused', message: { tone: 'error', text: 'This parcel is not expected at this locker.' } });
      return true;
    }
    const check = this.deps.tokens.verify(entry.token, ['pickup']);
    const consistent = check.ok ? check.claims.jti === entry.tokenId && check.claims.cmp === entry.compartmentId : check.reason === 'not-yet-valid';
    if (!consistent) {
      this.deps.store.appendAudit('courier.parcel-refused', 'priority', { tokenId: entry.tokenId, parcelId, reason: check.ok ? 'entry-mismatch' : check.reason });
      this.step({ type: 'parcel-refused', message: { tone: 'error', text: 'This parcel cannot be deposited. Please contact support.' } });
      return true;
    }
    const compartmentId = this.choose(entry, entry.compartmentId, new Set());
    if (compartmentId === undefined) {
      this.step({ type: 'parcel-refused', message: messages.noCompartment });
      return true;
    }
    this.startSlot({ tokenId: entry.tokenId, parcelId, assignedId: entry.compartmentId, size: entry.size, tried: [] }, compartmentId);
    return true;
  }

  /**
   * A return-retrieval credential: opens its compartment for the parcel it names (`par`);
   * door closed = that parcel retrieved, compartment free. The parcel must be the one the
   * store knows is there (the compartment's parcel, or an expired pickup / a return
   * drop-off entry in it): a credential for another parcel, or none, opens nothing, so a
   * retrieval can never take a customer's live parcel it does not name.
   */
  onReturnRetrieval(claims: TokenClaims): void {
    const { store, doors, display, log, storage } = this.deps;
    const compartmentId = claims.cmp;
    const parcelId = claims.par;
    const tokenId = claims.jti;
    if (compartmentId === undefined || parcelId === undefined || store.isTokenRevoked(tokenId) || this.spent(tokenId)) {
      display.flash(messages.notValid, 'error');
      return;
    }
    if (!this.holdsForRetrieval(compartmentId, parcelId)) {
      store.appendAudit('return.retrieval-refused', 'priority', { tokenId, compartmentId, parcelId, reason: 'parcel-not-in-compartment' });
      log.warn({ tokenId, compartmentId, parcelId }, 'return.retrieval-refused');
      display.flash(messages.notValid, 'error');
      return;
    }
    const retrieval: Retrieval = { compartmentId, parcelId, tokenId, expiresAt: Date.parse(claims.exp) };
    // Journaled before the pulse (door-controller.ts): a full disk refuses that commit and
    // nothing opens ("temporarily unavailable"). What follows the door cannot be undone:
    // a refused record waits for space (docs/operations.md, "The disk is full") with the
    // credential held spent, so it cannot open this door a second time meanwhile.
    const started = doors.open({ compartmentId, reason: 'return-retrieval', tokenId, parcelId }, (event) => {
      if (event === 'opened' || event === 'already-open' || event === 'unverified') {
        storage.writeOrDefer(store, 'retrieval:door-opened', 'return.retrieval-opened', (s, time) => {
          s.markTokenUsed(tokenId, 'return-retrieval', time.at, retrieval.expiresAt);
          s.appendAudit('return.retrieval-opened', 'normal', { tokenId, compartmentId, parcelId, door: event, ...time.late });
          // A dead sensor never reports the close that would record the parcel taken. Nor
          // can it say the door opened at all (a jam reads the same): the parcel may still
          // be inside, so the compartment goes to a technician ('needs-check') rather than
          // free for the next deposit, as for a pickup and an unknown open (unknown-open.ts).
          if (event === 'unverified') {
            reportNeedsCheck(s, { compartmentId, cause: 'sensor-unknown', tokenId, parcelId, late: time.late });
            writeRetrieved(s, retrieval, time);
          }
        }, { spentTokenId: tokenId, ...(event === 'unverified' ? { closedTokenIds: this.takenBy(retrieval) } : {}) });
        display.flash(doorOpenMessage(compartmentId, 'Door open: please take the parcel and close the door.'), 'success');
      } else if (event === 'closed') {
        // Until this is written the compartment stays occupied in the store (the safe
        // side: nothing is deposited there) and the parcel's codes count as used.
        storage.writeOrDefer(store, 'retrieval:door-closed', 'return.retrieved', (s, time) => writeRetrieved(s, retrieval, time), { closedTokenIds: this.takenBy(retrieval) });
        display.flash({ tone: 'success', text: 'Thank you.' });
      } else {
        display.flash(messages.doorDidNotOpen, 'error');
      }
    });
    if (!started.started) display.flash(started.reason === 'busy' ? messages.busy : messages.notValid, 'error');
  }

  /** Spent in the store, or by a record still waiting for disk space. */
  private spent(tokenId: string): boolean {
    return this.deps.store.isTokenUsed(tokenId) || this.deps.storage.spentPending(tokenId);
  }

  /** The entries a retrieval closes (read now, to hold them closed while its write waits). */
  private takenBy(retrieval: Retrieval): string[] {
    return retrievedEntries(this.deps.store, retrieval).map((e) => e.tokenId);
  }

  private holdsForRetrieval(compartmentId: string, parcelId: string): boolean {
    const { store } = this.deps;
    if (store.getCompartment(compartmentId)?.parcelId === parcelId) return true;
    return store
      .findEntriesByParcel(parcelId)
      .some((e) => e.currentCompartmentId === compartmentId && (e.state === 'expired' || (e.kind === 'return-dropoff' && e.state === 'live')));
  }

  /**
   * A technician's service credential: opens the compartment named in it (any state, even
   * out of service: that is how a stuck parcel or a faulty door gets attended). Reusable
   * within its window like a courier credential; every open is a priority audit record.
   */
  onService(claims: TokenClaims): void {
    const { store, doors, display } = this.deps;
    const compartmentId = claims.cmp;
    if (compartmentId === undefined || store.isTokenRevoked(claims.jti)) {
      display.flash(messages.notValid, 'error');
      return;
    }
    store.appendAudit('service.open', 'priority', { tokenId: claims.jti, compartmentId, ...(claims.sub === undefined ? {} : { sub: claims.sub }) });
    const started = doors.open({ compartmentId, reason: 'service', tokenId: claims.jti }, (event) => {
      if (event === 'opened' || event === 'already-open' || event === 'unverified') display.flash(doorOpenMessage(compartmentId, 'Door open (service).'), 'success');
      else if (event === 'jammed' || event === 'relay-fault') display.flash(messages.doorDidNotOpen, 'error');
    });
    if (!started.started) display.flash(started.reason === 'busy' ? messages.busy : messages.notValid, 'error');
  }

  /**
   * A session lives as long as the courier keeps using it, but its credential does not:
   * before every opening (a parcel, a re-slot) the credential must still be inside its
   * window (trusted time) and not revoked. Otherwise the session ends (or, with a deposit
   * door open, the parcel goes back) and this returns false.
   */
  private credentialStillValid(): boolean {
    const { state } = this;
    if (state.kind === 'none') return false;
    const { store, now, log } = this.deps;
    const { courier } = state;
    const reason = store.isTokenRevoked(courier.tokenId) ? 'revoked' : now() >= courier.expiresAt ? 'expired' : undefined;
    if (reason === undefined) return true;
    store.appendAudit('courier.credential-invalid', 'normal', { tokenId: courier.tokenId, reason });
    log.info({ tokenId: courier.tokenId, reason }, 'courier.credential-invalid');
    this.step({ type: 'credential-invalid', message: reason === 'revoked' ? messages.courierRevoked : messages.courierExpired });
    return false;
  }

  /**
   * The door closed on a deposit: the parcel is inside, whatever happened to its entry
   * meanwhile. The physical fact (occupied, with the parcel) is always recorded. If the
   * entry was revoked while the door was open because the backend re-issued the parcel's
   * token (an open pickup entry for the same parcel arrived), the deposit goes to that
   * entry, in the compartment the parcel is really in: the customer's code (same digest)
   * and QR open this door. Only without such a successor is an entry that cannot become
   * live recorded as needing a return, in the priority lane, instead of rolling the whole
   * transaction back (the compartment left 'free' with a parcel in it).
   */
  private confirmDeposit(slot: DepositSlot): void {
    const { store, log, storage } = this.deps;
    // The write clears this slot's deposit record itself, now or on recovery.
    this.depositRecorded = false;
    let outcome: { state: string | undefined; live: boolean } | undefined;
    // The parcel is inside whatever the disk says: a refused write waits for space (in
    // order, with its time), the compartment held occupied meanwhile (docs/operations.md,
    // "The disk is full").
    const written = storage.writeOrDefer(store, 'courier:deposit', 'courier.deposited', (s, time) => {
      outcome = this.writeDeposit(s, slot, time);
    }, { occupiedCompartmentId: slot.compartmentId });
    if (!written || outcome === undefined) {
      log.warn({ parcelId: slot.parcelId, compartmentId: slot.compartmentId }, 'courier.deposit-deferred');
      return;
    }
    if (outcome.live) log.info({ parcelId: slot.parcelId, compartmentId: slot.compartmentId }, 'courier.deposited');
    else log.warn({ parcelId: slot.parcelId, compartmentId: slot.compartmentId, entryState: outcome.state ?? 'missing' }, 'courier.deposited-not-live');
  }

  /** The deposit's writes, in the caller's transaction (now, or on recovery from a full disk). */
  private writeDeposit(store: RuntimeStore, slot: DepositSlot, { at, late }: WriteTime): { state: string | undefined; live: boolean } {
    const data = { tokenId: slot.tokenId, parcelId: slot.parcelId, compartmentId: slot.compartmentId, assignedId: slot.assignedId, ...late };
    const state = store.findEntryByTokenId(slot.tokenId)?.state;
    const depositable = state === 'awaiting-deposit' || state === 'live';
    const successor = depositable ? undefined : this.successorOf(slot);
    const tokenId = depositable ? slot.tokenId : successor?.tokenId;
    if (tokenId !== undefined) store.markDeposited(tokenId, slot.compartmentId, at);
    store.setCompartmentStatus(slot.compartmentId, 'occupied', { parcelId: slot.parcelId });
    if (depositable) store.appendAudit('courier.deposited', 'normal', data);
    else if (successor !== undefined) store.appendAudit('courier.deposited', 'normal', { ...data, tokenId: successor.tokenId, replacedTokenId: slot.tokenId });
    else store.appendAudit('courier.deposited-not-live', 'priority', { ...data, entryState: state ?? 'missing', returnNeeded: true });
    clearDepositRecord(store, slot.opId);
    return { state, live: tokenId !== undefined };
  }

  /** The parcel's open pickup entry that replaced the slot's (a re-issued token), if any. */
  private successorOf(slot: DepositSlot): StoredCodeEntry | undefined {
    return this.deps.store
      .findEntriesByParcel(slot.parcelId)
      .find((e) => e.tokenId !== slot.tokenId && e.kind === 'pickup' && (e.state === 'awaiting-deposit' || e.state === 'live'));
  }

  private choose(entry: Pick<StoredCodeEntry, 'size' | 'tokenId'>, preferredId: string | undefined, tried: ReadonlySet<string>, largerThan?: StoredCodeEntry['size']): string | undefined {
    const { store, doors } = this.deps;
    const exclude = new Set(tried);
    const candidates = store.listCompartments();
    for (const c of candidates) if (!doors.isIdle(c.id) || doors.isOpen(c.id)) exclude.add(c.id);
    // A deposit still waiting for disk space: the parcel is in there.
    for (const id of this.deps.storage.occupiedPending()) exclude.add(id);
    return chooseCompartment(candidates, {
      ...(preferredId === undefined ? {} : { preferredId }),
      minSize: entry.size,
      ...(largerThan === undefined ? {} : { largerThan }),
      exclude,
      // Free but promised to another parcel (a pending return drop-off, another awaiting
      // deposit): that parcel's code would open the door on this one.
      reserved: store.reservedCompartments(entry.tokenId),
    });
  }

  private startSlot(slot: Omit<DepositSlot, 'compartmentId' | 'opId'>, compartmentId: string): boolean {
    const { doors } = this.deps;
    const opId = doors.newOpId();
    // The session state first: the door may report 'already-open' before open() returns.
    this.step({ type: 'slot-opening', slot: { ...slot, compartmentId, opId, tried: [...slot.tried, compartmentId] } });
    const started = doors.open(
      { compartmentId, reason: 'courier', tokenId: slot.tokenId, parcelId: slot.parcelId },
      (event) => this.step({ type: 'door-event', opId, event }),
      opId,
      // Durable with the journal entry, before the pulse: a restart from here on is seen.
      () => this.recordDeposit({ opId, compartmentId, tokenId: slot.tokenId, parcelId: slot.parcelId }),
    );
    if (!started.started) this.step({ type: 'door-event', opId, event: 'relay-fault' });
    return true;
  }

  private reslot(reason: ReslotReason, slot: DepositSlot): void {
    const { store, log, storage } = this.deps;
    const current = store.getCompartment(slot.compartmentId);
    if (reason === 'door-faulty' && current !== undefined && current.status !== 'out-of-service') {
      storage.commitOrThrow('courier:door-faulty', () => store.transaction(() => {
        store.setCompartmentStatus(slot.compartmentId, 'out-of-service', { reason: 'door-faulty' });
        store.appendAudit('compartment.out-of-service', 'priority', { compartmentId: slot.compartmentId, reason: 'door-faulty-reported' });
      }));
    }
    if (!this.credentialStillValid()) return;
    const largerThan = reason === 'needs-larger' ? current?.size ?? slot.size : undefined;
    const next = this.choose(slot, undefined, new Set(slot.tried), largerThan);
    if (next === undefined || !this.startSlotWithAudit(slot, next, reason)) {
      log.warn({ parcelId: slot.parcelId, reason }, 'courier.no-other-compartment');
      this.step({ type: 'no-other-compartment' });
    }
  }

  private startSlotWithAudit(slot: DepositSlot, next: string, reason: ReslotReason): boolean {
    const { store, storage } = this.deps;
    storage.commitOrThrow('courier:reslot', () => store.appendAudit('courier.reslot', 'normal', { tokenId: slot.tokenId, parcelId: slot.parcelId, from: slot.compartmentId, to: next, reason }));
    return this.startSlot(slot, next);
  }

  private step(input: CourierSessionInput): void {
    const { state, effects } = courierSessionStep(this.state, input, { sessionMs: this.deps.sessionMs });
    this.state = state;
    for (const effect of effects) this.execute(effect);
    // The session left the slot without a deposit (door never opened, or closed with the
    // parcel taken back): nothing is left for a restart to check.
    if (this.depositRecorded && (this.state.kind === 'ready' || this.state.kind === 'none')) this.recordDeposit(null);
  }

  private recordDeposit(deposit: PendingDeposit | null): void {
    this.deps.store.saveState(DEPOSIT_KEY, JSON.stringify({ deposit }));
    this.depositRecorded = deposit !== null;
  }

  private execute(effect: CourierSessionEffect): void {
    const { store, display, timers } = this.deps;
    switch (effect.type) {
      case 'show':
        display.show(effect.message);
        return;
      case 'beep':
        display.beep(effect.pattern);
        return;
      case 'start-timer':
        timers.start('courier-session', effect.ms, () => this.step({ type: 'timeout' }));
        return;
      case 'cancel-timer':
        timers.cancel('courier-session');
        return;
      case 'confirm-deposit':
        this.confirmDeposit(effect.slot);
        return;
      case 'request-reslot':
        this.reslot(effect.reason, effect.slot);
        return;
      case 'audit':
        store.appendAudit(effect.auditType, 'normal', effect.data);
        return;
      case 'ended':
        store.appendAudit('courier.session-ended', 'normal', { deposits: effect.deposits });
        display.flash(effect.message);
        return;
    }
  }
}

/** A return-retrieval whose door was opened by its credential. */
interface Retrieval {
  compartmentId: string;
  parcelId: string;
  tokenId: string;
  /** The credential's expiry: its used-token row is kept until then. */
  expiresAt: number;
}

/** The entries of the parcel the credential names, in that compartment, still to be taken out. */
function retrievedEntries(store: RuntimeStore, { compartmentId, parcelId }: Retrieval): StoredCodeEntry[] {
  return store.findEntriesByParcel(parcelId).filter((e) => e.currentCompartmentId === compartmentId && (e.state === 'expired' || e.state === 'live'));
}

/**
 * The parcel is out: only the entries of the parcel the credential names are closed, and
 * the compartment is free unless it holds another parcel. In the caller's transaction (now,
 * or on recovery from a full disk, with the event's time).
 */
function writeRetrieved(store: RuntimeStore, retrieval: Retrieval, { at, late }: WriteTime): void {
  const { compartmentId, parcelId, tokenId } = retrieval;
  const row = store.getCompartment(compartmentId);
  const taken = retrievedEntries(store, retrieval);
  for (const e of taken) store.markRetrieved(e.tokenId, at);
  if (row !== undefined && row.status === 'occupied' && (row.parcelId === undefined || row.parcelId === parcelId)) store.setCompartmentStatus(compartmentId, 'free');
  store.appendAudit('return.retrieved', 'normal', { compartmentId, courierTokenId: tokenId, parcelId, entries: taken.map((e) => e.tokenId), ...late });
}

/**
 * Clears the deposit record if it is still this open's: a deposit written late (on
 * recovery from a full disk) must not clear the record of a newer deposit in progress.
 */
function clearDepositRecord(store: RuntimeStore, opId: string): void {
  const json = store.loadState(DEPOSIT_KEY);
  const parsed = json === undefined ? undefined : DepositBlob.safeParse(parseJson(json));
  if (parsed?.success === true && parsed.data.deposit !== null && parsed.data.deposit.opId !== opId) return;
  store.saveState(DEPOSIT_KEY, JSON.stringify({ deposit: null }));
}

function parseJson(json: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}
