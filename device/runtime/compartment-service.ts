import type { Logger } from '../logger.js';
import type { CompartmentStatus, RuntimeStore } from '../store/runtime-store.js';
import type { CompartmentServiceOutcome } from '../sync-port.js';

// An operator takes a compartment out of service, or returns it to service after the
// door was repaired. Repeated failures (door-controller.ts) only ever take a compartment
// OUT; this is the one way back, so it is audited in the priority lane like the failure
// that took it out.
//
// Returning to service clears the consecutive failure count (the repaired door starts
// afresh) and never marks a compartment "free" while a live parcel is inside it: that
// would let a courier deposit a second parcel on top of the customer's. Such a
// compartment goes back to "occupied" with its parcel. Taking a compartment out keeps
// its parcel id (the parcel may still have to be collected or returned).

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
    const live = store.findEntriesInCompartment(compartmentId)[0];
    let status: CompartmentStatus;
    if (!inService) status = 'out-of-service';
    else status = live === undefined ? 'free' : 'occupied';
    const changed = row.status !== status;
    const hadFailures = row.failureCount > 0;
    if (changed) {
      if (status === 'out-of-service') store.setCompartmentStatus(compartmentId, status, { reason: OPERATOR_REASON });
      else if (status === 'occupied' && live !== undefined) store.setCompartmentStatus(compartmentId, status, { parcelId: live.parcelId });
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
      ...(live === undefined ? {} : { parcelId: live.parcelId }),
    };
    store.appendAudit(inService ? 'compartment.in-service' : 'compartment.out-of-service', 'priority', data);
    log?.info(data, inService ? 'compartment.in-service' : 'compartment.out-of-service');
    return { outcome: 'changed', status };
  });
}
