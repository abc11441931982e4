import type { OpenOperation, RuntimeStore } from '../store/runtime-store.js';
import type { WriteTime } from './storage-health.js';

// An open a crash or a stop left unfinished: the relay may have fired and the door may
// have opened, so the outcome is 'unknown'. docs/security.md §2: "unknown" spends a
// single-use token, because the parcel may have been reachable; otherwise the same code
// would open the door a second time after the restart. Called inside the transaction that
// finishes the open and writes its 'door.open-unknown' audit record. Never throws on an
// entry in an unexpected state: a boot must not fail over it (the priority audit asks for
// a look). Whether a pickup's or a retrieval's parcel was taken, only someone who looks
// can say: the compartment goes out of service as 'needs-check' with a 'technician.task'.

export interface SpentByUnknownOpen {
  tokenSpent: boolean;
  /** Entries moved to collected / retrieved. */
  closedEntries: string[];
}

export interface NeedsCheck {
  compartmentId: string;
  /**
   * Why the locker cannot tell: 'open-unknown' (crash / stop), 'sensor-unknown', or
   * 'deposit-interrupted' (a restart while a courier deposit door was open or opening).
   */
  cause: 'open-unknown' | 'sensor-unknown' | 'deposit-interrupted';
  opId?: string;
  tokenId?: string;
  parcelId?: string;
  /** Leave the compartment's status alone (a return drop-off keeps it occupied). */
  keepStatus?: boolean;
  /**
   * The caller's write time's `late` (storage-health.ts): on a record written after a full
   * disk, when the locker found it could not tell, so the records say when it happened.
   */
  late: WriteTime['late'];
}

/**
 * What the locker cannot conclude is handed to a technician: a priority 'technician.task'
 * (the backend surfaces it) and, for a pickup, the compartment out of service as
 * 'needs-check', so nothing is deposited on a parcel that may still be inside. Back in
 * service (setCompartmentService) it becomes free, or occupied while a parcel is recorded
 * inside. Call inside the caller's transaction (a writeOrDefer write, whose `late` it passes).
 */
export function reportNeedsCheck(store: RuntimeStore, check: NeedsCheck): void {
  const { compartmentId } = check;
  const row = store.getCompartment(compartmentId);
  if (row === undefined) return;
  const takenOut = check.keepStatus !== true && row.status !== 'out-of-service';
  if (takenOut) {
    store.setCompartmentStatus(compartmentId, 'out-of-service', { reason: 'needs-check' });
    store.appendAudit('compartment.out-of-service', 'priority', { compartmentId, reason: 'needs-check', ...check.late });
  }
  store.appendAudit('technician.task', 'priority', {
    compartmentId,
    task: 'check-compartment',
    cause: check.cause,
    outOfService: takenOut || row.status === 'out-of-service',
    ...(check.opId === undefined ? {} : { opId: check.opId }),
    ...(check.tokenId === undefined ? {} : { tokenId: check.tokenId }),
    ...(check.parcelId === undefined ? {} : { parcelId: check.parcelId }),
    ...check.late,
  });
}

/** `time`: the write's (storage-health.ts); written late, the records carry its `occurredAt`. */
export function spendUnknownOpen(store: RuntimeStore, op: OpenOperation, time: WriteTime): SpentByUnknownOpen {
  const { tokenId } = op;
  const { at, late } = time;
  const none: SpentByUnknownOpen = { tokenSpent: false, closedEntries: [] };
  if (tokenId === undefined) return none;
  switch (op.reason) {
    case 'pickup': {
      store.markTokenUsed(tokenId, 'pickup', at);
      // Whether the parcel was taken, only someone who looks can say.
      reportNeedsCheck(store, { compartmentId: op.compartmentId, cause: 'open-unknown', opId: op.opId, tokenId, late, ...(op.parcelId === undefined ? {} : { parcelId: op.parcelId }) });
      const entry = store.findEntryByTokenId(tokenId);
      if (entry?.state !== 'live') return { tokenSpent: true, closedEntries: [] };
      store.markCollected(tokenId, at);
      return { tokenSpent: true, closedEntries: [tokenId] };
    }
    case 'return-dropoff': {
      store.markTokenUsed(tokenId, 'return-dropoff', at);
      // The return may be inside: occupied, so no courier deposits on top of it.
      const row = store.getCompartment(op.compartmentId);
      if (row?.status === 'free') store.setCompartmentStatus(op.compartmentId, 'occupied', op.parcelId === undefined ? {} : { parcelId: op.parcelId });
      return { tokenSpent: true, closedEntries: [] };
    }
    case 'return-retrieval': {
      store.markTokenUsed(tokenId, 'return-retrieval', at);
      // Whether the parcel was taken out, only someone who looks can say; left 'occupied'
      // it would hold a door for a parcel that may be gone, for good.
      reportNeedsCheck(store, { compartmentId: op.compartmentId, cause: 'open-unknown', opId: op.opId, tokenId, late, ...(op.parcelId === undefined ? {} : { parcelId: op.parcelId }) });
      if (op.parcelId === undefined) return { tokenSpent: true, closedEntries: [] };
      const closed: string[] = [];
      for (const e of store.findEntriesByParcel(op.parcelId)) {
        if (e.currentCompartmentId !== op.compartmentId || (e.state !== 'live' && e.state !== 'expired')) continue;
        store.markRetrieved(e.tokenId, at);
        closed.push(e.tokenId);
      }
      return { tokenSpent: true, closedEntries: closed };
    }
    default:
      // Courier, service and remote opens carry reusable credentials or none.
      return none;
  }
}
