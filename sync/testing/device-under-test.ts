import { join } from 'node:path';
import type { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { SeededRandom } from '@locker/hal/random.js';
import { createSimulatedHardware, type SimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { parseDeviceConfig } from '@locker/device/config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { silentLogger } from '@locker/device/logger.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import type { AuditRecord } from '@locker/sync-agent/device-sync-port.js';
import type { CompartmentSize, KeyringChange } from '@locker/backend/shared/contract.js';
import type { BackendFixture } from '@locker/backend/testing/backend-fixture.js';

// The real device runtime (simulated hardware, its own SQLite file, a FakeClock) wired to a
// real backend fixture the way the sync agent wires them, minus the broker: code batches
// come from the backend's CodeSetService, and the device's ACTUAL audit records go through
// the backend's AuditIngest, whose ack the device then applies. For end-to-end tests of
// what the device writes against what the backend reads (no hand-built audit data).

export interface DeviceUnderTestOptions {
  f: BackendFixture;
  clock: FakeClock;
  lockerId: string;
  compartments: Array<{ id: string; size: CompartmentSize }>;
  codePepper: Uint8Array;
  keyring: KeyringChange[];
}

export class DeviceUnderTest {
  readonly sim: SimulatedHardware;
  store!: DeviceStore;
  runtime!: LockerRuntime;
  /** Every record uploaded so far, in seq order (what the backend was given). */
  readonly uploaded: AuditRecord[] = [];
  private keyringSent = false;

  constructor(private readonly o: DeviceUnderTestOptions) {
    this.sim = createSimulatedHardware({ compartments: o.compartments.map((c) => ({ id: c.id })), clock: o.clock, debounceMs: 50 });
  }

  async start(): Promise<void> {
    const { o } = this;
    const config = parseDeviceConfig({
      lockerId: o.lockerId,
      compartments: o.compartments,
      codePepperFile: '/unused',
      dbPath: join(o.f.dir, 'device.db'),
      crypto: 'node-crypto',
      hardware: { kind: 'simulated', compartments: o.compartments.map((c) => ({ id: c.id })) },
    });
    const logger = silentLogger();
    let now = (): number => Math.floor(o.clock.now());
    this.store = openDeviceStore({ path: config.dbPath, lockerId: o.lockerId, logger, now: () => now() });
    this.runtime = new LockerRuntime({
      hardware: this.sim.hardware,
      store: this.store,
      ed25519: createEd25519('node-crypto'),
      config: runtimeConfigFrom(config, o.codePepper),
      logger,
      clock: o.clock,
      random: new SeededRandom(1),
    });
    now = () => this.runtime.trustedNow();
    await this.runtime.start();
  }

  async close(): Promise<void> {
    await this.runtime.stop();
    this.store.close();
    await this.sim.hardware.close();
  }

  /** The backend's pending code-set changes (and, the first time, its keyring) applied on the device. */
  async syncCodes(): Promise<void> {
    const from = this.store.codeSetState().version;
    const batch = await this.o.f.services.codeSets.batch(this.o.lockerId, 'delta', from, this.keyringSent ? [] : this.o.keyring);
    if (batch === undefined) return;
    // A real batch arrives sealed with the backend's signed time, which confirms device time
    // (docs/decisions/0019): without it the locker never judges a parcel expired.
    this.runtime.syncPort().observeTrustedTime(this.o.f.clock.now(), 'code-batch');
    const result = this.runtime.syncPort().applyCodeBatch(batch);
    if (result.outcome !== 'applied') throw new Error(`code batch not applied: ${JSON.stringify(result)}`);
    this.keyringSent = true;
    await this.o.f.store.codeSets.setAcked(this.o.lockerId, result.state.version, result.state.digest, this.o.clock.now());
  }

  /** Uploads every unacknowledged record (both lanes, seq order) to the backend's ingest and applies its ack. */
  async uploadAudit(): Promise<void> {
    const records = [
      ...this.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100_000 }),
      ...this.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 100_000 }),
    ].sort((a, b) => a.seq - b.seq);
    if (records.length === 0) return;
    const ack = await this.o.f.services.ingest.ingest(this.o.lockerId, this.store.dbEpoch, records, this.store.auditAckedWatermark());
    this.store.acknowledgeAudit({ contiguousSeq: ack.contiguousSeq, alsoSeqs: ack.alsoSeqs });
    const known = new Set(this.uploaded.map((r) => r.seq));
    this.uploaded.push(...records.filter((r) => !known.has(r.seq)));
  }

  uploadedTypes(): string[] {
    return this.uploaded.map((r) => r.type);
  }
}
