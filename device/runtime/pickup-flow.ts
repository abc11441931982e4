import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { doorOpenMessage, lockedMessage, messages } from '../core/display-messages.js';
import type { DoorEvent } from '../core/door-supervisor.js';
import { decidePickup, type PickupDecision, type PickupFacts } from '../core/pickup-decision.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { TokenClaims } from '@locker/contract/tokens/claims.js';
import type { TokenVerification } from '../tokens/token-verifier.js';
import type { Display } from './display.js';
import type { DoorController } from './door-controller.js';
import type { KeypadGuard } from './keypad-guard.js';
import type { StorageHealth, WriteTime } from './storage-health.js';
import { reportNeedsCheck } from './unknown-open.js';
import type { TokenGate } from './token-gate.js';

// Customer pickup (and return drop-off) by keypad code or QR token. Gathers the facts,
// lets core/pickup-decision.ts decide, and carries the decision out: the relay through the
// door controller, "collected" + replay mark in one transaction when the door OPENED.

export interface PickupFlowDeps {
  store: RuntimeStore;
  tokens: TokenGate;
  doors: DoorController;
  guard: KeypadGuard;
  display: Display;
  lockerId: string;
  pepper: Uint8Array;
  now: () => number;
  /** Device time descends from a signed time: only then is an expired entry flagged for return. */
  timeConfirmed: () => boolean;
  log: Logger;
  /** A door's record the full disk refused waits there; a token it spends is spent meanwhile. */
  storage: Pick<StorageHealth, 'writeOrDefer' | 'spentPending' | 'commitOrThrow'>;
}

export class PickupFlow {
  constructor(private readonly deps: PickupFlowDeps) {}

  /**
   * At start: a pickup whose door opened (entry collected in that commit) but whose close
   * the last run never saw (a stop or crash with the door open) would keep its compartment
   * 'occupied' for good. The close would have freed it: free it now. A door still open is
   * never offered to a courier (courier-flow excludes open doors), so it is free to use
   * only once shut. A compartment with any entry still to be collected or returned there
   * stays as it is.
   */
  start(): void {
    const { store, log } = this.deps;
    for (const c of store.listCompartments()) {
      if (c.status !== 'occupied' || c.parcelId === undefined) continue;
      const parcelId = c.parcelId;
      const here = store.findEntriesByParcel(parcelId).filter((e) => e.currentCompartmentId === c.id);
      const collected = here.find((e) => e.kind === 'pickup' && e.state === 'collected');
      if (collected === undefined || here.some((e) => e.state === 'awaiting-deposit' || e.state === 'live' || e.state === 'expired')) continue;
      store.transaction(() => {
        store.setCompartmentStatus(c.id, 'free');
        store.appendAudit('compartment.freed-after-restart', 'normal', { compartmentId: c.id, parcelId, tokenId: collected.tokenId });
      });
      log.warn({ compartmentId: c.id, parcelId, tokenId: collected.tokenId }, 'pickup.freed-after-restart');
    }
  }

  /** A complete code typed on the keypad. The code never leaves this function. */
  onCode(code: string): void {
    const { store, tokens, guard, display, lockerId, pepper } = this.deps;
    const charge = guard.attempt();
    if (!charge.allowed) {
      display.flash(lockedMessage(charge.remainingMs), 'error');
      return;
    }
    let decision: PickupDecision;
    try {
      const digest = codeDigest(pepper, lockerId, code);
      const entry = store.findEntryByCodeDigest(digest);
      const verification = entry === undefined ? undefined : tokens.verify(entry.token, [entry.kind]);
      const tokenId = verification?.ok === true ? verification.claims.jti : entry?.tokenId;
      decision = decidePickup({
        via: 'code',
        entry,
        verification,
        codeDigest: digest,
        used: tokenId !== undefined && this.spent(tokenId),
        revoked: tokenId !== undefined && store.isTokenRevoked(tokenId),
        // The door that would open must agree (another parcel inside refuses it).
        compartment: entry === undefined ? undefined : store.getCompartment(entry.currentCompartmentId),
        timeConfirmed: this.deps.timeConfirmed(),
      });
    } catch (err) {
      // The charge stays: an error must not become a free guess.
      guard.outcome('failure');
      throw err;
    }
    // The transaction that settles the charge may run twice (a full card the storage
    // reserve's release made room on): each run settles it from the same memory.
    const mark = guard.mark();
    if (decision.kind === 'reject') {
      let lockout: { lockoutMs: number } | undefined;
      this.rejected(decision, 'code', () => {
        guard.restore(mark);
        // A correct code in a wrong state is neutral: refunded, but it must not reset the
        // escalation, or a guesser could interleave his own pending code between guesses.
        lockout = guard.outcome(decision.countsAsFailure ? 'failure' : 'neutral');
      });
      if (lockout !== undefined) display.flash(lockedMessage(lockout.lockoutMs), 'error');
      return;
    }
    // The refund is committed with the open journal entry, in one transaction.
    let settled = false;
    this.open(decision, 'code', () => {
      guard.restore(mark);
      guard.outcome('success');
      settled = true;
    });
    // The door was busy (nothing journaled, nothing opened): not a failure, not a success.
    if (!settled) guard.outcome('neutral');
  }

  /** A scanned token whose purpose is pickup or return-dropoff (or that failed verification). */
  onToken(verification: TokenVerification): void {
    const { store } = this.deps;
    let facts: PickupFacts;
    if (!verification.ok) {
      // A genuine token outside its window names its (authenticated) id: with the cached
      // entry the decision marks an expired parcel for return, as the code path and the
      // sweep do. A token that failed any other check names nothing and finds no entry.
      const entry = verification.tokenId === undefined ? undefined : store.findEntryByTokenId(verification.tokenId);
      facts = { via: 'qr', entry, verification, used: false, revoked: false, timeConfirmed: this.deps.timeConfirmed() };
    } else {
      const claims: TokenClaims = verification.claims;
      const entry = store.findEntryByTokenId(claims.jti);
      // The compartment whose door would open: where the cached parcel is, else the token's.
      const compartmentId = entry?.currentCompartmentId ?? claims.cmp;
      facts = {
        via: 'qr',
        entry,
        verification,
        used: this.spent(claims.jti),
        revoked: store.isTokenRevoked(claims.jti),
        compartment: compartmentId === undefined ? undefined : store.getCompartment(compartmentId),
        timeConfirmed: this.deps.timeConfirmed(),
      };
    }
    const decision = decidePickup(facts);
    if (decision.kind === 'reject') this.rejected(decision, 'qr');
    else this.open(decision, 'qr');
  }

  /** Spent in the store, or by a door record still waiting for disk space. */
  private spent(tokenId: string): boolean {
    return this.deps.store.isTokenUsed(tokenId) || this.deps.storage.spentPending(tokenId);
  }

  private rejected(decision: Extract<PickupDecision, { kind: 'reject' }>, via: 'code' | 'qr', alsoInTransaction?: () => void): void {
    const { store, display, log, now, storage } = this.deps;
    const data = {
      via,
      reason: decision.reason,
      ...(decision.tokenId === undefined ? {} : { tokenId: decision.tokenId }),
      ...(decision.detail === undefined ? {} : { detail: decision.detail }),
    };
    log.info(data, 'pickup.rejected');
    // A full card the storage reserve's release made room on runs it again at once: the
    // person hears "not valid", not "temporarily unavailable".
    storage.commitOrThrow(`pickup:rejected-${via}`, () => store.transaction(() => {
      alsoInTransaction?.();
      if (decision.expireTokenId !== undefined) {
        const entry = store.findEntryByTokenId(decision.expireTokenId);
        store.markExpired(decision.expireTokenId, now());
        store.appendAudit('pickup.expired', 'normal', {
          tokenId: decision.expireTokenId,
          returnNeeded: true,
          ...(entry === undefined ? {} : { parcelId: entry.parcelId, compartmentId: entry.currentCompartmentId }),
        });
      }
      if (decision.suspicious) store.appendAudit('pickup.suspicious', 'priority', data);
      else if (decision.reason !== 'not-found') store.appendAudit('pickup.rejected', 'normal', data);
    }));
    display.flash(decision.message, 'error');
  }

  private open(decision: Extract<PickupDecision, { kind: 'open' }>, via: 'code' | 'qr', alsoInTransaction?: () => void): void {
    const { doors, display } = this.deps;
    display.show({ tone: 'progress', text: `Opening ${decision.compartmentId}…`, compartmentId: decision.compartmentId });
    const started = doors.open(
      { compartmentId: decision.compartmentId, reason: decision.purpose, tokenId: decision.tokenId, ...(decision.parcelId === undefined ? {} : { parcelId: decision.parcelId }) },
      (event) => this.onDoorEvent(decision, via, event),
      undefined,
      alsoInTransaction,
    );
    if (!started.started) {
      display.flash(messages.busy, 'error');
    }
  }

  /**
   * The relay fired, the sensor cannot say whether the door opened. In the caller's
   * transaction, on its store, with its write time's `late`.
   */
  private unverified(store: RuntimeStore, decision: Extract<PickupDecision, { kind: 'open' }>, late: WriteTime['late']): void {
    const { compartmentId, tokenId, parcelId, purpose } = decision;
    const ids = { tokenId, ...(parcelId === undefined ? {} : { parcelId }) };
    if (purpose === 'return-dropoff') {
      // The return may be inside: occupied, so no courier deposits on top of it.
      const row = store.getCompartment(compartmentId);
      if (row?.status === 'free') store.setCompartmentStatus(compartmentId, 'occupied', parcelId === undefined ? {} : { parcelId });
      reportNeedsCheck(store, { compartmentId, cause: 'sensor-unknown', keepStatus: true, late, ...ids });
      return;
    }
    reportNeedsCheck(store, { compartmentId, cause: 'sensor-unknown', late, ...ids });
  }

  private onDoorEvent(decision: Extract<PickupDecision, { kind: 'open' }>, via: 'code' | 'qr', event: DoorEvent): void {
    const { store, display, log, storage } = this.deps;
    const { tokenId, compartmentId, purpose } = decision;
    const base = { tokenId, compartmentId, via, ...(decision.parcelId === undefined ? {} : { parcelId: decision.parcelId }) };
    switch (event) {
      case 'opened':
      case 'already-open':
      case 'unverified': {
        // The parcel is reachable: the token is spent, in the same transaction as the state.
        // The door has opened whatever the disk says: a refused write waits for space, the
        // token held spent meanwhile (docs/operations.md, "The disk is full").
        const type = purpose === 'pickup' ? 'pickup.collected' : 'return.dropoff-opened';
        storage.writeOrDefer(store, 'pickup:door-opened', type, (s, { at, late }) => {
          s.markTokenUsed(tokenId, purpose, at);
          if (purpose === 'pickup' && decision.cached) s.markCollected(tokenId, at);
          s.appendAudit(type, 'normal', { ...base, door: event, ...late });
          // A dead sensor will never report the close that frees the compartment (pickup)
          // or marks the return inside (drop-off): conclude what is safe, hand the rest to a
          // technician (docs/operations.md, "dead door sensor").
          if (event === 'unverified') this.unverified(s, decision, late);
        }, { spentTokenId: tokenId, ...(purpose === 'return-dropoff' && event === 'unverified' ? { occupiedCompartmentId: compartmentId } : {}) });
        log.info({ ...base, door: event }, 'pickup.door-opened');
        display.flash(doorOpenMessage(compartmentId, purpose === 'pickup' ? undefined : 'Door open: please place your return and close the door.'), 'success');
        return;
      }
      case 'closed':
        // A pickup's compartment stays occupied until this is written (the safe side); a
        // return inside is held occupied meanwhile.
        storage.writeOrDefer(store, 'pickup:door-closed', purpose === 'return-dropoff' ? 'return.dropped-off' : 'pickup.door-closed', (s, { late }) => {
          const row = s.getCompartment(compartmentId);
          if (purpose === 'return-dropoff') {
            if (row !== undefined && row.status !== 'out-of-service') s.setCompartmentStatus(compartmentId, 'occupied', decision.parcelId === undefined ? {} : { parcelId: decision.parcelId });
            s.appendAudit('return.dropped-off', 'normal', { ...base, ...late });
          } else {
            if (row?.status === 'occupied' && (row.parcelId === undefined || row.parcelId === decision.parcelId)) s.setCompartmentStatus(compartmentId, 'free');
            s.appendAudit('pickup.door-closed', 'normal', { ...base, ...late });
          }
        }, purpose === 'return-dropoff' ? { occupiedCompartmentId: compartmentId } : {});
        display.flash({ tone: 'success', text: 'Thank you.' });
        return;
      case 'jammed':
      case 'relay-fault':
        display.flash(messages.doorDidNotOpen, 'error');
        return;
    }
  }
}
