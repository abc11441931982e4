import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { SeededRandom } from '@locker/hal/random.js';
import { createSimulatedHardware, type SimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import type { CodeBatch, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { parseDeviceConfig, type DeviceConfigInput } from '../config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { Ed25519Kind } from '@locker/contract/crypto/ed25519.js';
import { silentLogger, type Logger } from '../logger.js';
import type { OpenStep } from '../runtime/door-controller.js';
import { LockerRuntime } from '../runtime/locker-runtime.js';
import { runtimeConfigFrom } from '../runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from '../store/device-store.js';
import type { StorageReserve } from '../store/storage-reserve-file.js';
import type { CompartmentSize, TokenPurpose } from '@locker/contract/tokens/claims.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';

// End-to-end fixture: the real runtime on simulated hardware, a real SQLite file in a temp
// dir, real signatures (TokenIssuer), a FakeClock. restart() closes the store and runtime
// and opens them again on the same file and the same (physical) simulated hardware.

export const LOCKER = 'locker-e2e-1';
export const PEPPER = new Uint8Array(32).fill(7);
export const T0 = Date.UTC(2026, 0, 1, 8);
const HOUR = 3_600_000;

export interface HarnessOptions {
  compartments?: Array<{ id: string; size: CompartmentSize }>;
  config?: Partial<DeviceConfigInput>;
  crypto?: Ed25519Kind;
  logger?: Logger;
  beforePulse?: (compartmentId: string, opId: string) => void;
  openStep?: (step: OpenStep, compartmentId: string, opId: string) => void;
  /** Called with each newly opened store before the runtime starts (a disk already full at boot). */
  storeOpened?: (store: DeviceStore) => void;
  dir?: string;
  clock?: FakeClock;
  /** The storage reserve the runtime keeps (kept across restarts, as a file is); none by default. */
  reserve?: StorageReserve;
  /**
   * The backend's clock: each batch carries its signed time (the real sync agent observes
   * the seal's iat before applying). Undefined = a batch delivered without one. Default:
   * the locker's wall clock.
   */
  backendNow?: () => number | undefined;
}

export const defaultCompartments: Array<{ id: string; size: CompartmentSize }> = [
  { id: 'A01', size: 'S' },
  { id: 'A02', size: 'M' },
  { id: 'A03', size: 'M' },
  { id: 'A04', size: 'L' },
  { id: 'A05', size: 'XL' },
];

export class Harness {
  readonly dir: string;
  readonly clock: FakeClock;
  readonly sim: SimulatedHardware;
  readonly issuer: TokenIssuer;
  readonly ed = createEd25519('node-crypto');
  store!: DeviceStore;
  runtime!: LockerRuntime;
  private version = 0;
  private serial = 0;
  private readonly ownsDir: boolean;

  constructor(private readonly options: HarnessOptions = {}) {
    this.ownsDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'locker-e2e-'));
    this.clock = options.clock ?? new FakeClock({ wallMs: T0 });
    const compartments = options.compartments ?? defaultCompartments;
    this.sim = createSimulatedHardware({ compartments: compartments.map((c) => ({ id: c.id })), clock: this.clock, debounceMs: 50 });
    this.issuer = new TokenIssuer({ ed: this.ed, kid: 'k1', seed: new Uint8Array(32).fill(3), issuer: 'backend-test' });
  }

  get control(): SimulatedHardware['control'] {
    return this.sim.control;
  }

  get compartments(): Array<{ id: string; size: CompartmentSize }> {
    return this.options.compartments ?? defaultCompartments;
  }

  async start(): Promise<void> {
    const compartments = this.compartments;
    const config = parseDeviceConfig({
      lockerId: LOCKER,
      compartments,
      codePepperFile: '/unused',
      dbPath: join(this.dir, 'device.db'),
      crypto: this.options.crypto ?? 'node-crypto',
      hardware: { kind: 'simulated', compartments: compartments.map((c) => ({ id: c.id })) },
      ...this.options.config,
    });
    const logger = this.options.logger ?? silentLogger();
    let now = (): number => Math.floor(this.clock.now());
    this.store = openDeviceStore({ path: config.dbPath, lockerId: LOCKER, logger, now: () => now() });
    this.options.storeOpened?.(this.store);
    this.runtime = new LockerRuntime({
      hardware: this.sim.hardware,
      store: this.store,
      ed25519: createEd25519(config.crypto),
      config: runtimeConfigFrom(config, PEPPER),
      logger,
      clock: this.clock,
      random: new SeededRandom(++this.serial),
      ...(this.options.beforePulse === undefined ? {} : { beforePulse: this.options.beforePulse }),
      ...(this.options.openStep === undefined ? {} : { openStep: this.options.openStep }),
      ...(this.options.reserve === undefined ? {} : { reserve: this.options.reserve }),
    });
    now = () => this.runtime.trustedNow();
    await this.runtime.start();
    if (this.store.keyringRows().length === 0) this.applyBatch({ keyring: [{ op: 'trust', kid: 'k1', publicKey: keyToText(this.issuer.publicKey) }] });
  }

  /** A graceful restart (as systemd's stop and start): the stop's bounded wait runs on the fake clock. */
  async restart(): Promise<void> {
    await this.stopRuntime();
    this.store.close();
    await this.start();
  }

  /**
   * runtime.stop(), advancing the fake clock while it waits for opens in flight (a stop
   * with nothing in flight resolves without moving the clock).
   */
  async stopRuntime(): Promise<void> {
    let done = false;
    const stopping = this.runtime.stop().finally(() => {
      done = true;
    });
    await this.clock.advanceAsync(0);
    for (let i = 0; i < 10_000 && !done; i++) await this.clock.advanceAsync(10);
    await stopping;
  }

  async close(): Promise<void> {
    await this.stopRuntime();
    this.store.close();
    await this.sim.hardware.close();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  applyBatch(change: Partial<Pick<CodeBatch, 'upserts' | 'revocations' | 'keyring'>>): void {
    const state = this.store.codeSetState();
    this.version = Math.max(this.version, state.version);
    const signedAt = this.options.backendNow === undefined ? this.clock.now() : this.options.backendNow();
    if (signedAt !== undefined) this.runtime.syncPort().observeTrustedTime(signedAt, 'code-batch');
    const result = this.runtime.syncPort().applyCodeBatch({
      lockerId: LOCKER,
      kind: 'delta',
      fromVersion: this.version,
      toVersion: this.version + 1,
      upserts: change.upserts ?? [],
      revocations: change.revocations ?? [],
      keyring: change.keyring ?? [],
    });
    if (result.outcome !== 'applied') throw new Error(`batch not applied: ${JSON.stringify(result)}`);
    this.version += 1;
  }

  token(purpose: TokenPurpose, extra: { jti?: string; cmp?: string; par?: string; cdh?: string; sub?: string; nbf?: number; exp?: number } = {}, lockerId = LOCKER, issuer = this.issuer): { jti: string; token: string } {
    const jti = extra.jti ?? `tok_${randomBytes(9).toString('base64url')}`;
    const now = this.clock.now();
    const token = issuer.issue(lockerId, {
      jti,
      purpose,
      iat: new Date(now - 60_000).toISOString(),
      nbf: new Date(extra.nbf ?? now - 60_000).toISOString(),
      exp: new Date(extra.exp ?? now + 72 * HOUR).toISOString(),
      ...(extra.cmp === undefined ? {} : { cmp: extra.cmp }),
      ...(extra.par === undefined ? {} : { par: extra.par }),
      ...(extra.cdh === undefined ? {} : { cdh: extra.cdh }),
      ...(extra.sub === undefined ? {} : { sub: extra.sub }),
    });
    return { jti, token };
  }

  /** A pickup entry with its code, signed, in the cache (awaiting deposit unless deposited). */
  addParcel(options: { parcelId: string; compartmentId: string; size?: CompartmentSize; code: string; exp?: number; kind?: 'pickup' | 'return-dropoff' }): CodeEntry {
    const digest = codeDigest(PEPPER, LOCKER, options.code);
    const kind = options.kind ?? 'pickup';
    const { jti, token } = this.token(kind, { cmp: options.compartmentId, par: options.parcelId, cdh: digest, ...(options.exp === undefined ? {} : { exp: options.exp }) });
    const entry: CodeEntry = { tokenId: jti, token, codeDigest: digest, parcelId: options.parcelId, compartmentId: options.compartmentId, size: options.size ?? 'M', kind };
    this.applyBatch({ upserts: [entry] });
    return entry;
  }

  /** Marks a parcel deposited directly in the store (skips the courier flow). */
  deposit(entry: CodeEntry): void {
    this.store.transaction(() => {
      this.store.markDeposited(entry.tokenId, entry.compartmentId, this.clock.now());
      this.store.setCompartmentStatus(entry.compartmentId, 'occupied', { parcelId: entry.parcelId });
    });
  }

  async type(keys: string): Promise<void> {
    this.control.keypad.press(keys);
    await this.clock.advanceAsync(0);
  }

  async scan(text: string): Promise<void> {
    this.control.scanner.scan(text);
    await this.clock.advanceAsync(0);
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advanceAsync(ms);
  }

  /** Person closes a door; waits out the debounce. */
  async closeDoor(id: string): Promise<void> {
    this.control.closeDoor(id);
    await this.clock.advanceAsync(1000);
  }

  lastText(): string {
    return this.control.indicator.lastMessage()?.text ?? '';
  }

  texts(): string[] {
    return this.control.indicator.messages().map((m) => m.text);
  }

  auditTypes(): string[] {
    return this.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 100_000 })
      .concat(this.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100_000 }))
      .sort((a, b) => a.seq - b.seq)
      .map((r) => r.type);
  }

  pulses(id?: string): number {
    return this.control.pulses(id).length;
  }
}
