import type { BackendSigner } from '../sync/contract/backend-signer.js';
import { TestBackend } from '../sync/testing/test-backend.js';
import type { DemoParcelSource, PreparedParcel } from './demo-scenario.js';
import type { DemoIssuer } from './demo-issuer.js';
import type { LockerSim } from './locker-sim.js';
import { DemoStepError, waitUntil } from './wait-for.js';

// The demo's backend over MQTT: tokens signed by the real TokenIssuer, the batch sealed by
// the contract's BackendSigner and published on lockers/{id}/codes/batch through the
// embedded broker, where the real SyncAgent verifies and applies it and acks the version.
// The MQTT side is sync/testing's TestBackend (which also stores and acks audit uploads),
// standing in for backend-sync until its service can be composed here.

export interface MqttDemoBackend {
  source: DemoParcelSource;
  close(): Promise<void>;
}

export async function startMqttDemoBackend(options: {
  url: string;
  protocolVersion: 4 | 5;
  signer: BackendSigner;
  issuer: DemoIssuer;
  timeoutMs?: number;
}): Promise<MqttDemoBackend> {
  const { issuer } = options;
  const timeout = options.timeoutMs ?? 10_000;
  const backend = await TestBackend.connect({
    url: options.url,
    signer: options.signer,
    protocolVersion: options.protocolVersion,
    clientId: 'sim-backend',
  });
  const source: DemoParcelSource = {
    description: `backend key ${issuer.kid}, code batch sealed and published over MQTT (embedded broker) to the locker's SyncAgent`,
    async prepare(sim: LockerSim, parcel, say): Promise<PreparedParcel> {
      // A batch published before the agent subscribed would wait in no queue: wait for its birth message.
      await backend.waitFor(() => backend.presence.get(sim.lockerId)?.status === 'online', timeout, 'the locker to come online');
      const online = backend.presence.get(sim.lockerId);
      const fromVersion = latestVersion(backend, online?.status === 'online' ? online.codeSet.version : 0);
      say(`the locker is online (birth message: code set version ${String(fromVersion)})`);
      const codeInUse = (digest: string): boolean => sim.store.findEntryByCodeDigest(digest) !== undefined;
      const courierCredential = issuer.courierCredential('courier-demo');
      const pickup = issuer.pickup(parcel, codeInUse);
      say('courier credential issued for courier-demo (purpose courier, valid 12 h)');
      say(`pickup token ${pickup.entry.tokenId} issued (keypad code digest + QR token, valid 72 h)`);
      const batch = issuer.delta(fromVersion, [pickup.entry]);
      const message = backend.publishBatch(batch);
      say(`code batch ${String(batch.fromVersion)}→${String(batch.toVersion)} sealed with ${issuer.kid} and published on lockers/${sim.lockerId}/codes/batch`);
      await backend.waitFor(() => backend.codeAcks.some((a) => a.inReplyTo === message.id), timeout, 'the locker to ack the batch');
      const ack = backend.codeAcks.find((a) => a.inReplyTo === message.id);
      if (ack?.outcome !== 'applied') throw new DemoStepError(`the locker answered the batch with '${ack?.outcome ?? 'nothing'}'${ack?.reason === undefined ? '' : `: ${ack.reason}`}`);
      say(`the SyncAgent verified the seal, applied the batch and acked version ${String(ack.state.version)}`);
      return {
        parcelId: parcel.parcelId,
        compartmentId: parcel.compartmentId,
        pickupTokenId: pickup.entry.tokenId,
        courierCredential,
        code: pickup.code,
        wrongCode: issuer.wrongCode(pickup.code, codeInUse),
      };
    },
    async confirmAuditUpload(sim, seq, say) {
      await waitUntil(() => sim.store.auditAckedWatermark() >= seq, `the backend to acknowledge audit seq ${String(seq)}`, timeout);
      say(`audit records uploaded over MQTT: the backend stored them and acknowledged up to seq ${String(sim.store.auditAckedWatermark())}`);
    },
  };
  return { source, close: () => backend.close() };
}

/** The newest version the locker reported (birth message or a later ack); one locker per simulator. */
function latestVersion(backend: TestBackend, fromBirth: number): number {
  return Math.max(fromBirth, ...backend.codeAcks.map((a) => a.state.version));
}
