import type { OpenOperation, RuntimeStore } from '../store/runtime-store.js';

// An open a crash left unfinished: the relay may have fired and the door may have opened,
// so the outcome is 'unknown'. docs/security.md §2: "unknown" spends a single-use token,
// because the parcel may have been reachable; otherwise the same code would open the door
// a second time after the restart. Called inside the transaction that finishes the open
// and writes its 'door.open-unknown' audit record. Never throws on an entry in an
// unexpected state: a boot must not fail over it (the priority audit asks for a look).

export interface SpentByUnknownOpen {
  tokenSpent: boolean;
  /** Entries moved to collected / retrieved. */
  closedEntries: string[];
}

export function spendUnknownOpen(store: RuntimeStore, op: OpenOperation, at: number): SpentByUnknownOpen {
  const { tokenId } = op;
  const none: SpentByUnknownOpen = { tokenSpent: false, closedEntries: [] };
  if (tokenId === undefined) return none;
  switch (op.reason) {
    case 'pickup': {
      store.markTokenUsed(tokenId, 'pickup', at);
      // The compartment keeps the status it has: whether the parcel was taken, only someone
      // who looks can say (the door supervisor takes the door as the sensor reports it).
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
