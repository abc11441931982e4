import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import { idempotent, idempotentGrouped, keyOf, legacyKeyOf, replayOf, requestHash, retryOnceIfKeyTaken, type CallerKey, type IdempotencyKeyArg, type IdempotentResult } from '../shared/idempotency.js';
import type { Logger } from '../shared/logger.js';
import type { ReservationRecord } from '../store/records.js';
import type { IdempotentHoldParams, Store } from '../store/store.js';
import { newHoldId } from './hold-id.js';
import { ReservationView, type ReservationRequest } from './reservation-schemas.js';

// Checkout holds on a locker compartment of a size. The claim is one conditional write in
// the store (see ReservationRepository.claim), so capacity is never double-booked however
// many requests, processes or instances race. Holds expire: lazily (a read or a claim sees
// the expiry and releases) and by the sweeper.

/** Idempotency keys of holds live in their own scope. */
const SCOPE = 'reservation';

export interface ReservationServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  holdMs: number;
  /** Lockers offline longer than this are not offered. */
  offlineGraceMs: number;
}

export function toReservationView(r: ReservationRecord): ReservationView {
  const v: ReservationView = { id: r.id, orderRef: r.orderRef, lockerId: r.lockerId, size: r.size, compartmentId: r.compartmentId, status: r.status, expiresAt: r.expiresAt };
  if (r.orderId !== undefined) v.orderId = r.orderId;
  if (r.shipmentId !== undefined) v.shipmentId = r.shipmentId;
  return v;
}

export class ReservationService {
  private readonly log: Logger;

  constructor(private readonly o: ReservationServiceOptions) {
    this.log = o.logger.child({ component: 'reservations' });
  }

  /** In its own transaction and commit. */
  reserve(idempotencyKey: IdempotencyKeyArg, req: ReservationRequest): Promise<IdempotentResult<ReservationView>> {
    return idempotent(this.o.store, SCOPE, idempotencyKey, req, this.o.clock.now(), 201, ReservationView, this.claimUnit(req));
  }

  /**
   * The HTTP path: resolves when durable. A hold that finds a compartment is the store's
   * one idempotent hold (PostgreSQL: one statement; SQLite: one group-committed unit, so
   * concurrent checkouts share one fsync). A hold that finds none, or whose locker refuses
   * holds, wrote nothing there and takes the general path, which releases lapsed holds,
   * tries again and says why it failed.
   */
  async reserveGrouped(idempotencyKey: IdempotencyKeyArg, req: ReservationRequest): Promise<IdempotentResult<ReservationView>> {
    const { store, clock } = this.o;
    const hash = requestHash(req);
    const now = clock.now();
    const k = keyOf(idempotencyKey);
    const outcome = await retryOnceIfKeyTaken(() => store.reservations.holdIdempotent(this.holdParams(k, hash, req, now)));
    if (outcome.kind === 'replay') return replayOf(outcome.record, hash, SCOPE, k.sent, ReservationView);
    if (outcome.kind === 'none') return idempotentGrouped(store, SCOPE, idempotencyKey, req, now, 201, ReservationView, this.claimUnit(req));
    const r = outcome.reservation;
    this.log.info({ reservationId: r.id, lockerId: r.lockerId, size: r.size }, 'reservation.held');
    return { statusCode: 201, body: toReservationView(r), replayed: false };
  }

  private holdParams(key: CallerKey, hash: string, req: ReservationRequest, now: number): IdempotentHoldParams {
    const id = newHoldId(now);
    const expiresAt = now + this.o.holdMs;
    // The view as toReservationView writes it, cut where the claimed compartment's id goes:
    // the stored response is byte for byte what JSON.stringify of the view would give.
    const before = JSON.stringify({ id, orderRef: req.orderRef, lockerId: req.lockerId, size: req.size });
    const after = JSON.stringify({ status: 'held', expiresAt });
    return {
      id,
      orderRef: req.orderRef,
      lockerId: req.lockerId,
      size: req.size,
      expiresAt,
      now,
      offlineCutoff: now - this.o.offlineGraceMs,
      scope: SCOPE,
      key: key.stored,
      legacyKey: legacyKeyOf(key),
      requestHash: hash,
      statusCode: 201,
      response: { before: `${before.slice(0, -1)},"compartmentId":`, after: `,${after.slice(1)}` },
    };
  }

  private claimUnit(req: ReservationRequest): () => Promise<ReservationView> {
    const { store, clock } = this.o;
    return async () => {
      const now = clock.now();
      const cutoff = now - this.o.offlineGraceMs;
      const id = newHoldId(now);
      // The claim itself only takes a compartment of an operating locker that is online
      // enough (see ReservationRepository.claim), so the locker is read only when it took
      // none, to say why: one statement fewer on every successful hold, the hot path.
      const claimed = await store.reservations.claim({ id, orderRef: req.orderRef, lockerId: req.lockerId, size: req.size, status: 'held', expiresAt: now + this.o.holdMs, now, offlineCutoff: cutoff });
      if (claimed === undefined) throw await this.whyNoClaim(req, cutoff);
      await store.stateLog.append({ entity: 'reservation', entityId: id, to: 'held', event: 'reserve', actor: 'checkout', at: now });
      this.log.info({ reservationId: id, lockerId: req.lockerId, size: req.size }, 'reservation.held');
      return toReservationView(claimed);
    };
  }

  /** The error for a claim that took nothing: the locker's state, else no capacity. */
  private async whyNoClaim(req: ReservationRequest, offlineCutoff: number): Promise<BackendError> {
    const locker = await this.o.store.lockers.gate(req.lockerId);
    if (locker === undefined) return notFound('locker', req.lockerId);
    if (locker.status !== 'operating') return new BackendError('BUSINESS_RULE', 'locker is not operating', { lockerId: req.lockerId, status: locker.status });
    if (locker.offlineSince !== null && locker.offlineSince <= offlineCutoff) {
      return new BackendError('BUSINESS_RULE', 'locker has been offline too long to take new parcels', { lockerId: req.lockerId });
    }
    return new BackendError('NO_CAPACITY', 'no free compartment of this size at this locker', { lockerId: req.lockerId, size: req.size });
  }

  async get(id: string): Promise<ReservationView> {
    await this.expireIfDue(id);
    const r = await this.o.store.reservations.get(id);
    if (r === undefined) throw notFound('reservation', id);
    return toReservationView(r);
  }

  /** Cancels a hold or a confirmed reservation that no parcel uses yet. */
  release(id: string, actor: string, reason: string): Promise<ReservationView> {
    const { store, clock } = this.o;
    return store.transaction(async () => {
      await this.expireIfDue(id);
      const r = await store.reservations.get(id);
      if (r === undefined) throw notFound('reservation', id);
      if (r.status === 'released' || r.status === 'expired') return toReservationView(r);
      if (r.status === 'consumed') throw new BackendError('BUSINESS_RULE', 'reservation is in use by a shipment; cancel the shipment instead', { reservationId: id });
      const now = clock.now();
      // Conditional: an instance that expired or released it a moment ago wins, and this
      // answers with what it did instead of logging a second transition.
      if (await store.reservations.release(id, 'released', now)) {
        await store.stateLog.append({ entity: 'reservation', entityId: id, from: r.status, to: 'released', event: 'release', actor, reason, at: now });
      }
      const after = await store.reservations.get(id);
      if (after === undefined) throw notFound('reservation', id);
      return toReservationView(after);
    });
  }

  /**
   * Releases every expired hold; returns how many. Driven by the sweeper with the injected
   * clock. Safe on several instances at once: on PostgreSQL each takes holds the others
   * have not locked (dueForExpiry), and the release itself is conditional.
   */
  async sweep(limit = 500): Promise<number> {
    const { store, clock } = this.o;
    const now = clock.now();
    const n = await store.transaction(async () => {
      let released = 0;
      for (const r of await store.reservations.dueForExpiry(now, limit)) {
        if (await store.reservations.release(r.id, 'expired', now)) {
          await store.stateLog.append({ entity: 'reservation', entityId: r.id, from: 'held', to: 'expired', event: 'expire', actor: 'sweeper', at: now });
          released++;
        }
      }
      return released;
    });
    if (n > 0) this.log.info({ released: n }, 'reservation.expired');
    return n;
  }

  private async expireIfDue(id: string): Promise<void> {
    const { store, clock } = this.o;
    const now = clock.now();
    const r = await store.reservations.get(id);
    if (r?.status !== 'held' || r.expiresAt > now) return;
    await store.transaction(async () => {
      if (await store.reservations.release(id, 'expired', now)) {
        await store.stateLog.append({ entity: 'reservation', entityId: id, from: 'held', to: 'expired', event: 'expire', actor: 'lazy-read', at: now });
      }
    });
  }
}
