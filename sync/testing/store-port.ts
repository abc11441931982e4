import { setCompartmentService } from '@locker/device/runtime/compartment-service.js';
import type { DeviceStore } from '@locker/device/store/device-store.js';
import type { DeviceHealth, DeviceSyncPort, RemoteOpenOutcome } from '@locker/sync-agent/device-sync-port.js';

// A DeviceSyncPort for sync tests before the runtime provides one: the real DeviceStore
// (real SQLite file) for everything durable, plus a test-only remoteOpen that records its
// calls instead of pulsing a relay. Its once-per-transaction guarantee comes from the open
// journal, as the runtime's will.

export interface TestRemoteOpen {
  calls: Array<{ transactionId: string; compartmentId: string; reason: string }>;
  outcome: RemoteOpenOutcome['outcome'];
  delayMs: number;
}

export function createStorePort(store: DeviceStore, remote: Partial<TestRemoteOpen> = {}): DeviceSyncPort & { remote: TestRemoteOpen } {
  const state: TestRemoteOpen = { calls: [], outcome: remote.outcome ?? 'opened', delayMs: remote.delayMs ?? 0 };
  const port: DeviceSyncPort & { remote: TestRemoteOpen } = {
    remote: state,
    lockerId: store.lockerId,
    get dbEpoch() {
      return store.dbEpoch;
    },
    renewDbEpoch: (evidence) => store.renewDbEpoch(evidence),
    codeSetState: () => store.codeSetState(),
    applyCodeBatch: (batch) => store.applyCodeBatch(batch),
    applyCodeBatchInSlices: (batch) => store.applyCodeBatchInSlices(batch),
    auditHighWatermark: () => store.auditHighWatermark(),
    auditHashAt: (seq) => store.auditHashAt(seq),
    auditAckedWatermark: () => store.auditAckedWatermark(),
    readUnackedAudit: (o) => store.readUnackedAudit(o),
    acknowledgeAudit: (a) => store.acknowledgeAudit(a),
    pruneAcknowledgedAudit: (ms) => store.pruneAcknowledgedAudit(ms),
    observeTrustedTime: (ms) => {
      store.raiseClockFloor(Math.floor(ms));
    },
    appendAudit: (type, lane, data) => store.appendAudit(type, lane, data),
    countSuppressedRejection: () => store.countSuppressedRejection(),
    appendRejectionAudit: (lane, data) => store.appendRejectionAudit(lane, data),
    findCommandReply: (t) => store.findCommandReply(t),
    beginCommand: (t, k, e) => store.beginCommand(t, k, e),
    completeCommand: (t, j) => store.completeCommand(t, j),
    unfinishedCommands: () => store.unfinishedCommands(),
    remoteOpen: async (transactionId, compartmentId, reason) => {
      if (store.unfinishedOpens().some((o) => o.transactionId === transactionId)) return { outcome: 'unknown' };
      const opId = `remote-${transactionId}`;
      store.beginOpen({ opId, compartmentId, reason: 'remote', transactionId, startedAt: Date.now() });
      state.calls.push({ transactionId, compartmentId, reason });
      if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
      const outcome = state.outcome;
      store.finishOpen(opId, outcome === 'opened' || outcome === 'already-open' || outcome === 'jammed' ? outcome : 'unknown', Date.now());
      return { outcome };
    },
    setCompartmentService: (transactionId, compartmentId, inService, reason) =>
      setCompartmentService(store, { compartmentId, inService, by: 'backend', reason, transactionId }),
    health: (): DeviceHealth => ({
      compartments: store.listCompartments().map((c) => ({
        id: c.id,
        status: c.status === 'free' ? 'ok' : c.status,
        door: 'unknown',
      })),
      lockout: { active: false, failures: 0 },
      liveCodes: store.liveCodeCount(),
      auditBacklog: store.auditHighWatermark() - store.auditAckedWatermark(),
      clockFloor: store.clockFloor(),
    }),
  };
  return port;
}
