import type { Logger } from '../logger.js';
import type { CompartmentStatus, RuntimeStore } from '../store/runtime-store.js';
import type { CompartmentServiceOutcome } from '@locker/sync-agent/device-sync-port.js';

// An operator takes a compartment out of service, or returns it to service after the
// door was repaired. Repeated failures (door-controller.ts) only ever take a compartment
// OUT; this is the one way back, so it is audited in the priority lane like the failure
// that took it out.
//
// Returning to service clears the consecutive failure count (the repaired door starts
// afresh) and never marks a compartment "free" while a parcel may be inside it: that
// would let a courier deposit a second parcel on top of it. A parcel is inside when a
// live entry is in the compartment, or when the row still names a parcel that was not
// collected or retrieved (an expired parcel waiting for return, a revoked one, a return
// drop-off). Such a compartment goes back to "occupied" with its parcel. Taking a
// compartment out keeps its parcel id (the parcel may still have to be collected or
// returned).

/** Why an operator took a compartment out of service (CompartmentRow.outOfServiceReason). */
export const OPERATOR_REASON = 'operator';

export interface CompartmentServiceRequest {
  compartmentId: string;
  inService: boolean;
  /** Who asked: 'console', 'backend', an operator id. Audited; never a code or token. */
  by: string;
  /** Free text from the operator, audited (truncated). */
  reason?: string;
  transactionId?: string;
}

export function setCompartmentService(store: RuntimeStore, request: CompartmentServiceRequest, log?: Logger): CompartmentServiceOutcome {
  const { compartmentId, inService } = request;
  return store.transaction((): CompartmentServiceOutcome => {
    const row = store.getCompartment(compartmentId);
    if (row === undefined) return { outcome: 'unknown-compartment' };
    const inside = parcelInside(store, compartmentId, row.parcelId);
    let status: CompartmentStatus;
    if (!inService) status = 'out-of-service';
    else status = inside === undefined ? 'free' : 'occupied';
    const changed = row.status !== status;
    const hadFailures = row.failureCount > 0;
    if (changed) {
      if (status === 'out-of-service') store.setCompartmentStatus(compartmentId, status, { reason: OPERATOR_REASON });
      else if (status === 'occupied' && inside !== undefined) store.setCompartmentStatus(compartmentId, status, { parcelId: inside });
      else store.setCompartmentStatus(compartmentId, status);
    }
    if (inService && hadFailures) store.resetCompartmentFailures(compartmentId);
    if (!changed && !(inService && hadFailures)) return { outcome: 'unchanged', status };
    const data = {
      compartmentId,
      inService,
      from: row.status,
      to: status,
      failuresCleared: inService ? row.failureCount : 0,
      by: request.by.slice(0, 64),
      ...(request.reason === undefined ? {} : { reason: request.reason.slice(0, 120) }),
      ...(request.transactionId === undefined ? {} : { transactionId: request.transactionId }),
      ...(inside === undefined ? {} : { parcelId: inside }),
    };
    store.appendAudit(inService ? 'compartment.in-service' : 'compartment.out-of-service', 'priority', data);
    log?.info(data, inService ? 'compartment.in-service' : 'compartment.out-of-service');
    return { outcome: 'changed', status };
  });
}

/** The parcel id a compartment holds as far as the store can tell, or undefined when empty. */
function parcelInside(store: RuntimeStore, compartmentId: string, rowParcelId: string | undefined): string | undefined {
  const live = store.findEntriesInCompartment(compartmentId)[0];
  if (live !== undefined) return live.parcelId;
  if (rowParcelId === undefined) return undefined;
  // The row names a parcel: it is gone only when an entry for it here says so. No entry at
  // all (an uncached return drop-off) leaves it inside: an operator must look, not guess.
  const here = store.findEntriesByParcel(rowParcelId).filter((e) => e.currentCompartmentId === compartmentId);
  const gone = here.length > 0 && here.every((e) => e.state === 'collected' || e.state === 'retrieved');
  return gone ? undefined : rowParcelId;
}
