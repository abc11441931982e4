import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { Actor } from './order-transitions.js';

// An order's checkout holds are confirmed at placement, one compartment each, and used
// (consumed) by its shipments. Once no open line is left without a shipment (every line
// shipped or cancelled, or the order shipped in fewer parcels than it held compartments
// for), a hold still confirmed will never be used: left so, its compartment stayed
// reserved for ever. Called, in the caller's transaction (which locked the order), by
// shipment creation and by cancellation.

/** Releases the order's confirmed holds once nothing of it is left to ship; how many it released. */
export async function releaseSpareHolds(store: Store, now: number, orderId: string, who: Actor, logger: Logger): Promise<number> {
  const lines = await store.orders.lines(orderId);
  if (lines.some((l) => l.state === 'open' && l.shipmentId === undefined)) return 0;
  let released = 0;
  for (const r of await store.reservations.byOrder(orderId)) {
    if (r.status !== 'confirmed' || !(await store.reservations.release(r.id, 'released', now))) continue;
    await store.stateLog.append({ entity: 'reservation', entityId: r.id, from: 'confirmed', to: 'released', event: 'release', actor: who.actor, reason: who.reason ?? 'no line of the order is left to ship', at: now });
    logger.info({ event: 'order.spare_hold_released', orderId, reservationId: r.id, lockerId: r.lockerId, compartmentId: r.compartmentId }, 'order.spare_hold_released');
    released++;
  }
  return released;
}
