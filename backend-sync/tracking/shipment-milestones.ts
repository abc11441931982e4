import type { Actor, OrderTransitions } from '../orders/order-transitions.js';
import type { Logger } from '../shared/logger.js';
import type { ShipmentRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { exceptionNotice } from './core/exception-notice.js';
import { endsJourney } from './core/status-rules.js';
import { REUSED_NUMBER_GAP_MS, emptyProjection, type TrackingProjection } from './core/tracking-fold.js';
import { defaultPollPolicy, type PollPolicyConfig } from './polling/hybrid-poll-policy.js';
import type { MilestoneSink, TrackingChange } from './tracking-applier.js';
import type { TrackingStatus } from './tracking-event.js';

// One timeline: what the tracking projection reaches moves the shipment (and through it the
// order) and tells the customer — from milestones of the fold, never from raw events.
//
// - Carrier steps drive the shipment through OrderTransitions, so the order follows as
//   before and the shipment's own notices go out (shipment.shipped,
//   shipment.out_for_delivery): picked up or in transit → 'ship'; out for delivery →
//   'ship' if needed, then 'out_for_delivery'. A locker parcel's deposit and pickup are
//   the locker's own transitions (orders/parcel-events.ts), which notify with the locker
//   and the code; the tracking events they add notify nothing more here.
// - Milestones no shipment transition covers (an exception; delivered to an address with
//   no locker) are notified here, once per (tracking number, milestone) through the
//   outbox's dedupe key, whatever instance gets there first; an exception each time the
//   parcel becomes stuck (core/exception-notice.ts), so stuck again after recovering is told.
// - Returned to sender before the parcel reached the locker: the shipment is returned
//   (its compartment freed, its code revoked, a refund queued, the customer told) through
//   CarrierReturns; the order follows.
//
// - A shipment created after its number was scanned (a webhook subscribed at label time,
//   the shipment posted later) takes the milestones reached so far, as if they had just
//   been reached, for itself alone; a number whose journey ended (or, on its way, that
//   went silent) 30 days before is a carrier's recycled number and its past is not this parcel's.
// - A recycled number's new parcel starts a new cycle of the fold (core/tracking-fold.ts):
//   its milestones are all new, they move only the shipments created for it (created nearer
//   its first scan than the old parcel's end, which lie 30 days or more apart), and no
//   parcel moves a shipment recorded 30 days after its end or newest scan. Whether a
//   move reaches a later parcel is the applier's word (TrackingChange.newParcel), and a
//   delivered notice is keyed per order: cycle numbers and starts shift under late scans.
//
// Milestones come from `reached` (every status the fold applied), so every milestone of the
// final fold is told whatever order the events arrived in. One reached only while an
// earlier scan that makes it illegal was still missing (a refold then drops it from
// `reached`) has been told already and is not taken back.

/** Scans this old when a shipment takes the number belong to an earlier parcel (carriers reuse numbers). */
export const STALE_TIMELINE_MS = REUSED_NUMBER_GAP_MS;

/**
 * Whether a shipment of the number is the parcel the timeline tracks now. Under a recycled
 * number, the shipments of the earlier parcel were created around its journey (a merchant
 * may record one after its scans began, or even after it ended), the new parcel's before its
 * first scan, and more than 30 days lie between the two: a shipment created nearer the new
 * parcel's first scan than the old parcel's end is the new parcel's.
 */
function ofThisParcel(s: ShipmentRecord, timeline: TrackingProjection, next?: TrackingProjection): boolean {
  const since = boundary(timeline);
  const until = next === undefined ? undefined : boundary(next);
  // A shipment recorded more than the reuse gap after the parcel's journey ended, or after its
  // newest scan while on its way, is not this parcel's (caughtUp judged it so when it was
  // recorded), whatever of this parcel comes in late.
  const seenAt = lastSeenAt(timeline);
  return (since === undefined || s.createdAt >= since) && (until === undefined || s.createdAt < until) && (seenAt === null || s.createdAt <= seenAt + REUSED_NUMBER_GAP_MS);
}

/** Where a recycled number's gap is measured from, as the fold measures it: the journey's end, or its newest scan while on its way. */
function lastSeenAt(timeline: TrackingProjection): number | null {
  return timeline.settledAt ?? timeline.lastEventTime;
}

/**
 * Where a cycle's shipments begin: halfway from the previous parcel's end to the cycle's
 * first scan (none for the first parcel). Not capped at the reuse gap after that end: a late
 * scan can move that end earlier after a shipment was caught up as the old parcel's, and a
 * cap would then hand it the next parcel's return (a shipment recorded between the two
 * stays unmoved instead: docs/backend.md, "Recycled numbers", limits).
 */
function boundary(timeline: TrackingProjection): number | undefined {
  return timeline.previousSettledAt === null || timeline.cycleStart === null ? undefined : (timeline.previousSettledAt + timeline.cycleStart) / 2;
}

const SHIP: ReadonlySet<TrackingStatus> = new Set(['picked_up', 'in_transit', 'out_for_delivery']);
const carrierActor: Actor = { actor: 'carrier', reason: 'tracking' };

/** A customer notice a milestone owes, under its outbox dedupe key. */
interface MilestoneNotice {
  milestone: TrackingStatus;
  key: string;
  /** An exception: when the trouble began, and its newest scan. */
  stuck?: { since: number; lastScanAt: number };
}

/** What a carrier's return to sender does to a shipment (orders/shipment-service.ts): false when it is past that. */
export interface CarrierReturns {
  returnedToSender(shipmentId: string, who: Actor): Promise<boolean>;
}

export class ShipmentMilestones implements MilestoneSink {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly transitions: OrderTransitions,
    logger: Logger,
    private readonly returns?: CarrierReturns,
    private readonly pollPolicy: PollPolicyConfig = defaultPollPolicy,
  ) {
    this.log = logger.child({ component: 'tracking-milestones' });
  }

  async changed(changes: ReadonlyArray<TrackingChange>): Promise<void> {
    // Most tracked numbers in a burst belong to no shipment here: one query finds those that do.
    const withShipments = await this.store.tracking.numbersWithShipments(changes.map((c) => c.after.trackingNumber));
    for (const c of changes) if (withShipments.has(c.after.trackingNumber)) await this.one(c, undefined);
  }

  /**
   * Locks the number's projection (created empty when absent, as the applier does) so that a
   * scan applied meanwhile is either seen here or sees the new shipment. Inside the shipment's
   * transaction, before its order's lock: the applier locks projections before orders too.
   */
  async lockTimeline(trackingNumber: string, carrier: string, now: number): Promise<TrackingProjection> {
    return (await this.store.tracking.lockProjection(trackingNumber, carrier, now)).projection;
  }

  /**
   * After the shipment was inserted: its number's poll schedule entry, then what the
   * timeline reached before it existed, for this shipment only (another of the number had
   * its own milestones when they were reached). A number whose journey ended (or, on its
   * way, that went silent) longer than STALE_TIMELINE_MS ago is a carrier's recycled number,
   * not this parcel: its past is left alone.
   */
  async caughtUp(timeline: TrackingProjection, shipmentId: string, now: number): Promise<void> {
    // Scans after the journey's end (a way back, a collection) do not make the next parcel this one.
    const seenAt = lastSeenAt(timeline);
    const stale = seenAt !== null && seenAt < now - STALE_TIMELINE_MS;
    // Polling covers the shipment from its creation, even if its carrier never sends a
    // webhook (a subscription that failed at label time): due when webhooks would have gone
    // quiet. A recycled number's entry starts over once the old parcel is done with it
    // (silent for the gap, or at a status no longer polled): one still polling a parcel on
    // its way back keeps its cadence, so the old order's return is not seen days late.
    const dueBy = now + this.pollPolicy.unknownStatus.quietAfterMs;
    const oldParcelDone = (timeline.lastEventTime !== null && timeline.lastEventTime < now - STALE_TIMELINE_MS) || endsJourney(timeline.status);
    await this.store.pollSchedule.enroll({ trackingNumber: timeline.trackingNumber, carrier: timeline.carrier, at: now, dueBy, restart: stale && oldParcelDone });
    if (timeline.status === null) return;
    if (stale) {
      this.log.info({ trackingNumber: timeline.trackingNumber, shipmentId, seenAt, lastEventTime: timeline.lastEventTime }, 'tracking.catch_up_skipped_stale');
      return;
    }
    // The trouble the number is in was told for a shipment that already carried it (the
    // notice's key is the number's); its start, read from the recent scans, may be later.
    const toldBefore = (await this.store.shipments.byTrackingNumber(timeline.trackingNumber)).some((x) => x.id !== shipmentId && ofThisParcel(x, timeline));
    await this.one({ before: emptyProjection(timeline.trackingNumber, timeline.carrier), after: timeline, newParcel: true }, { shipmentId, tellException: !toldBefore });
  }

  private async one(change: TrackingChange, only: { shipmentId: string; tellException: boolean } | undefined): Promise<void> {
    const { before, after, next } = change;
    const tn = after.trackingNumber;
    if (after.cycle < before.cycle) {
      // The fold's rule (core/tracking-fold.ts) keeps cycles from going back under late
      // scans; should one ever go back, moving shipments on it would hand one parcel's news
      // to the other's shipment: nothing moves, someone looks.
      this.log.warn({ trackingNumber: tn, from: before.cycle, to: after.cycle }, 'tracking.cycle_undone');
      return;
    }
    const newly = change.newParcel ? after.reached : after.reached.filter((s) => !before.reached.includes(s));
    const stuck = only?.tellException === false ? undefined : exceptionNotice(before, after);
    const notices: MilestoneNotice[] = stuck === undefined ? [] : [{ milestone: 'exception', key: stuck.key, stuck: { since: stuck.since, lastScanAt: stuck.lastScanAt } }];
    if (newly.length === 0 && notices.length === 0) return;
    for (const seen of await this.store.shipments.byTrackingNumber(after.trackingNumber)) {
      if ((only !== undefined && seen.id !== only.shipmentId) || !ofThisParcel(seen, after, next)) continue;
      // Cancelled: nobody waits for this parcel any more (its code is revoked, its money
      // refunded); a printed label the carrier still scans tells its customer nothing.
      if (seen.state === 'cancelled') continue;
      const wantsShip = after.reached.some((s) => SHIP.has(s));
      const wantsOut = after.reached.includes('out_for_delivery');
      if ((wantsShip && seen.state === 'created') || (wantsOut && seen.state === 'shipped')) await this.carrierSteps(seen.id, seen.orderId, wantsOut);
      // After the steps, whether they came in this batch or an earlier one: the customer
      // hears the same notices however the provider grouped its scans.
      // In one of our lockers, only the locker's own way back (its expiry, a courier's
      // retrieval) can return the parcel (status-rules.ts): that concerns the shipment in
      // that compartment, which the locker's events moved already, never another under the number.
      if (newly.includes('returned_to_sender') && !after.inLocker) await this.carrierReturn(seen);
      // Once per order and number: not named after the parcel's cycle or start, which late
      // scans shift; an order's shipments sharing the number are one parcel to its customer.
      const told: MilestoneNotice[] = seen.lockerId === undefined && newly.includes('delivered') ? [...notices, { milestone: 'delivered', key: `tracking.delivered:${tn}:${seen.orderId}` }] : notices;
      if (told.length === 0) continue;
      const order = await this.store.orders.get(seen.orderId);
      if (order === undefined) continue;
      for (const n of told) {
        await this.transitions.notify(order, `tracking.${n.milestone}`, n.key, {
          orderId: order.id,
          shipmentId: seen.id,
          trackingNumber: tn,
          status: n.milestone,
          ...(n.stuck === undefined ? {} : { stuck: n.stuck }),
          ...(after.location === null ? {} : { location: after.location }),
        });
        this.log.info({ trackingNumber: tn, shipmentId: seen.id, milestone: n.milestone, stuckSince: n.stuck?.since }, 'tracking.milestone_notified');
      }
    }
  }

  private async carrierReturn(seen: ShipmentRecord): Promise<void> {
    // Already returned: a refold reached the milestone again. Expired or retrieved: the
    // locker's own way back put the milestone there (orders/parcel-events.ts).
    if (this.returns === undefined || seen.state === 'returned_to_sender' || seen.state === 'expired' || seen.state === 'returned') return;
    await this.transitions.lockOrder(seen.orderId);
    if (await this.returns.returnedToSender(seen.id, carrierActor)) {
      await this.transitions.refreshOrder(seen.orderId, carrierActor);
      return;
    }
    // In a locker already, collected or cancelled: the locker's doors (and, for a parcel
    // deposited anyway, fault.parcel-not-live) say where the parcel is.
    this.log.warn({ trackingNumber: seen.trackingNumber, shipmentId: seen.id, state: seen.state }, 'tracking.return_ignored');
  }

  private async carrierSteps(shipmentId: string, orderId: string, outForDelivery: boolean): Promise<void> {
    await this.transitions.lockOrder(orderId);
    let s: ShipmentRecord | undefined = await this.store.shipments.get(shipmentId);
    if (s?.state === 'created') s = await this.transitions.shipment(s, 'ship', carrierActor);
    if (outForDelivery && s?.state === 'shipped') s = await this.transitions.shipment(s, 'out_for_delivery', carrierActor);
    await this.transitions.refreshOrder(orderId, carrierActor);
  }
}
