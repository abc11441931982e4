import type { Clock, InputRejection, LockerHardware, RandomSource, Scan, Unsubscribe } from '@locker/hal/types.js';
import { LogThrottle, type ThrottleSummary } from '@locker/contract/log-throttle.js';
import { messages } from '../core/display-messages.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import { isDeviceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isDatabaseCorrupt } from '../store/corruption-guard.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { StorageReserve } from '../store/storage-reserve-file.js';
import type { CompartmentServiceOutcome, DeviceHealth, DeviceSyncPort, RemoteOpenOutcome } from '@locker/sync-agent/device-sync-port.js';
import type { KeyResolver } from '@locker/contract/tokens/keyring.js';
import { V4_PUBLIC_HEADER } from '@locker/contract/tokens/paseto-v4-public.js';
import { setCompartmentService } from './compartment-service.js';
import { CourierFlow } from './courier-flow.js';
import { Display } from './display.js';
import { DoorController, type OpenStep } from './door-controller.js';
import { ExpirySweep } from './expiry-sweep.js';
import { InputRejections } from './input-rejections.js';
import { KeypadGuard } from './keypad-guard.js';
import { KeypadInput } from './keypad-input.js';
import { PickupFlow } from './pickup-flow.js';
import { RemoteOpener } from './remote-open.js';
import { RetentionSweep } from './retention-sweep.js';
import { lockoutPolicyOf, type RuntimeConfig } from './runtime-config.js';
import { RuntimeSyncPort } from './runtime-sync-port.js';
import { StorageHealth } from './storage-health.js';
import { StorageReserveKeeper } from './storage-reserve.js';
import { NamedTimers } from './timers.js';
import { TokenGate } from './token-gate.js';
import { TrustedTime } from './trusted-time.js';

// The runtime shell: subscribes to the hardware, feeds the pure machines, executes their
// effects. Every input handler runs inside one error boundary: an exception is logged with
// its code, the person sees a generic error, and the process keeps running.

export interface LockerRuntimeDeps {
  hardware: LockerHardware;
  store: RuntimeStore;
  ed25519: Ed25519;
  config: RuntimeConfig;
  logger: Logger;
  clock: Clock;
  random: RandomSource;
  /** Called right before each relay pulse, with the open operation id (tests, crash test). */
  beforePulse?: (compartmentId: string, opId: string) => void;
  /** Called at each step of an open (fault injection in the crash tests). */
  openStep?: (step: OpenStep, compartmentId: string, opId: string) => void;
  /** The storage reserve beside the database (main.ts: a FileStorageReserve); none without it. */
  reserve?: StorageReserve;
}

const REJECTION_BURST = 20;
/** How long a stop waits, after the pulse itself, for the door sensor to decide an open. */
const STOP_SETTLE_MS = 1_000;
const REJECTION_WINDOW_MS = 60_000;
/** A full disk lasts hours: at most one error line and one summary per this window. */
const STORAGE_LOG_WINDOW_MS = 600_000;

export class LockerRuntime {
  private readonly log: Logger;
  private readonly time: TrustedTime;
  private readonly timers: NamedTimers;
  private readonly display: Display;
  private readonly tokens: TokenGate;
  private readonly guard: KeypadGuard;
  private readonly doors: DoorController;
  private readonly pickup: PickupFlow;
  private readonly courier: CourierFlow;
  private readonly remote: RemoteOpener;
  private readonly expiry: ExpirySweep;
  private readonly retention: RetentionSweep;
  private readonly rejections = new InputRejections(REJECTION_BURST, REJECTION_WINDOW_MS);
  /** A keypad or scanner spewing garbage would otherwise write one warn line per frame. */
  private readonly rejectionLogs = new LogThrottle(REJECTION_WINDOW_MS);
  private readonly port: RuntimeSyncPort;
  /** A full or failing disk: refused writes, deferred door events, recovery (storage-health.ts). */
  private readonly storage: StorageHealth;
  /** Space held back for a full disk (storage-reserve.ts). */
  private readonly reserve: StorageReserveKeeper | undefined;
  private readonly keypad: KeypadInput;
  private unsubscribes: Unsubscribe[] = [];
  private unsubscribeDoors: Unsubscribe | undefined;
  private running = false;
  private handlerErrors = 0;
  private oddsReported = false;

  // Wiring only: nothing here touches hardware or the store (architecture.md).
  constructor(private readonly deps: LockerRuntimeDeps) {
    const { config, store, logger, clock, hardware } = deps;
    this.log = logger.child({ component: 'runtime' });
    this.time = new TrustedTime(clock, store, config.clock, logger.child({ component: 'clock-trust' }));
    const now = (): number => this.time.now();
    const storageLog = logger.child({ component: 'storage' });
    this.reserve = deps.reserve === undefined ? undefined : new StorageReserveKeeper(deps.reserve, storageLog, config.storageReserve.restoreMarginBytes);
    this.storage = new StorageHealth(storageLog, now, () => clock.monotonicMs(), STORAGE_LOG_WINDOW_MS, this.reserve);
    this.timers = new NamedTimers(clock, (name, fn) => this.boundary(`timer:${name}`, fn));
    this.display = new Display(hardware.indicator, this.timers, config.codeLength, config.timeouts.messageMs);
    this.tokens = new TokenGate(store, deps.ed25519, config.lockerId, now, logger.child({ component: 'tokens' }), config.trustedKeys ?? []);
    this.guard = new KeypadGuard(store, this.time, lockoutPolicyOf(config), logger.child({ component: 'keypad-guard' }));
    // Door durations on monotonic time, in whole ms: the real clock's is performance.now(),
    // fractional, and the audit schemas want integers (openMs, waitedMs).
    this.doors = new DoorController({
      hardware, store, random: deps.random, timers: this.timers, display: this.display, now, monotonicNow: () => Math.floor(clock.monotonicMs()),
      log: logger.child({ component: 'doors' }),
      config: {
        openWaitMs: config.timeouts.doorOpenWaitMs,
        leftOpenMs: config.timeouts.leftOpenAlarmMs,
        leftOpenRepeatMs: config.timeouts.leftOpenRepeatMs,
        pulseMs: config.timeouts.pulseMs,
        failuresBeforeOutOfService: config.doorFailuresBeforeOutOfService,
        flap: config.doorFlap,
      },
      ...(deps.beforePulse === undefined ? {} : { beforePulse: deps.beforePulse }),
      ...(deps.openStep === undefined ? {} : { openStep: deps.openStep }),
      guard: (source, fn) => this.boundary(source, fn),
      storage: this.storage,
    });
    this.pickup = new PickupFlow({
      store, tokens: this.tokens, doors: this.doors, guard: this.guard, display: this.display,
      lockerId: config.lockerId, pepper: config.codePepper, now, timeConfirmed: () => this.time.confirmed(), log: logger.child({ component: 'pickup' }),
      storage: this.storage,
    });
    this.courier = new CourierFlow({
      store, tokens: this.tokens, doors: this.doors, display: this.display, timers: this.timers,
      sessionMs: config.timeouts.courierSessionMs, now, log: logger.child({ component: 'courier' }),
      storage: this.storage,
    });
    this.keypad = new KeypadInput({
      display: this.display, timers: this.timers, pickup: this.pickup, courier: this.courier,
      config: { codeLength: config.codeLength, idleTimeoutMs: config.timeouts.keypadIdleMs }, log: logger.child({ component: 'keypad' }),
    });
    this.remote = new RemoteOpener(store, this.doors, this.storage, logger.child({ component: 'remote-open' }));
    this.expiry = new ExpirySweep(store, this.tokens, this.time, logger.child({ component: 'expiry' }), config.timeouts.expiryGraceMs);
    this.retention = new RetentionSweep(store, config.retention, logger.child({ component: 'retention' }));
    this.port = new RuntimeSyncPort(store, {
      // A write the full disk refuses is noted like the clock tick's checkpoint, not thrown:
      // it comes before a command's begin, and thrown it would restart the agent's session
      // with the backend given no reply. The corrected time is kept in memory meanwhile.
      observeTrustedTime: (epochMs, source) => this.background(`signed-time:${source}`, () => this.time.observeSignedTime(epochMs, source)),
      batchApplied: (keyringChanged) => this.afterBatch(keyringChanged),
      remoteOpen: (transactionId, compartmentId, reason) => this.remoteOpen(transactionId, compartmentId, reason),
      setCompartmentService: (compartmentId, inService, by, details) => this.setCompartmentService(compartmentId, inService, by, details),
      health: () => this.health(),
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { hardware, store, config } = this.deps;
    // A relay left energised by a crash would hold a door unlocked.
    await hardware.relays.allOff();
    // A disk still full at boot must not keep the locker down (no alarm, no health report,
    // a restart loop): a start-up write it refuses is noted (health says not writable),
    // the opens it would record are refused by their own journal write, and what the
    // door controller and the courier flow must record waits for space, held meanwhile.
    // The reserve goes first, before anything writes: a card with no room for it starts
    // with it released (the health report says so) and the first refused write is handled
    // as a full disk. Awaited: written asynchronously, but before anyone is served.
    await this.reserve?.start();
    this.startStep('clock-start', () => this.time.start());
    store.syncCompartmentLayout(config.compartments);
    this.tokens.reload();
    this.startStep('keypad-guard-start', () => this.guard.start());
    this.doors.start();
    // Only frees compartments: left occupied until the next start (the safe side).
    this.startStep('pickup-start', () => this.pickup.start());
    this.courier.start();
    this.unsubscribes = [
      hardware.keypad.onKey((press) => this.boundary('keypad', () => this.keypad.onKey(press.key))),
      hardware.keypad.onRejected((r) => this.boundary('keypad', () => this.onRejected(r))),
      hardware.scanner.onScan((scan) => this.boundary('scanner', () => this.onScan(scan))),
      hardware.scanner.onRejected((r) => this.boundary('scanner', () => this.onRejected(r))),
    ];
    this.unsubscribeDoors = hardware.doors.onChange((change) => this.boundary('doors', () => this.doors.onDoorChange(change.compartmentId, change.state)));
    this.running = true;
    this.scheduleTick();
    this.scheduleExpirySweep();
    this.scheduleRetentionSweep();
    this.startStep('live-code-odds', () => this.checkLiveCodeOdds());
    const started = { liveCodes: store.liveCodeCount(), clockFloor: this.time.floor() };
    this.storage.writeOrDefer(store, 'runtime-start', 'device.started', (s, { late }) => s.appendAudit('device.started', 'normal', { ...started, ...late }));
    this.log.info({ lockerId: config.lockerId, compartments: config.compartments.length }, 'runtime.started');
    this.display.idle();
  }

  /**
   * Stops taking input, lets opens in flight finish (bounded: the pulse plus
   * STOP_SETTLE_MS, on the clock) and finishes the rest as 'unknown' with their single-use
   * tokens spent, then switches every relay off and checkpoints time. Idempotent. Only
   * after it resolves may the hardware and the store be closed (docs/security.md §2).
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
    const { hardware, config, store } = this.deps;
    try {
      // Space may be back since the last tick: write what waits before anything else.
      this.storage.probe(store);
    } catch (err) {
      this.log.error({ err }, 'runtime.stop-probe-failed');
    }
    try {
      // The door sensor stays subscribed meanwhile: it decides the opens in flight.
      await this.doors.stop(Math.min(config.timeouts.pulseMs, hardware.relays.maxPulseMs) + STOP_SETTLE_MS);
    } catch (err) {
      this.log.error({ err }, 'runtime.stop-doors-failed');
    }
    this.unsubscribeDoors?.();
    this.unsubscribeDoors = undefined;
    this.timers.cancelAll();
    await this.deps.hardware.relays.allOff();
    try {
      this.time.checkpoint();
      this.deps.store.appendAudit('device.stopped', 'normal', {});
    } catch (err) {
      this.log.error({ err }, 'runtime.stop-checkpoint-failed');
    }
    // A reserve being written would leave its partial file to a process about to exit.
    try {
      await this.reserve?.stop();
    } catch (err) {
      this.log.error({ err }, 'runtime.stop-reserve-failed');
    }
    // Still full: what waits in memory dies with this process. Said once, counted
    // (docs/operations.md, "The disk is full").
    this.storage.reportUnwritten();
    this.log.info({}, 'runtime.stopped');
  }

  /** Device time, epoch ms (docs/decisions/0019): pass `() => runtime.trustedNow()` as the store's clock. */
  trustedNow(): number {
    return this.time.now();
  }

  /** Device time when it descends from a backend-signed time, else undefined (decision 0019). */
  confirmedNow(): number | undefined {
    return this.time.confirmedNow();
  }

  /** The port the sync agent uses (same process, same store). */
  syncPort(): DeviceSyncPort {
    return this.port;
  }

  /**
   * The backend keys trusted now (config bootstrap keys merged under the store's rows), for
   * the sync agent's seal verification; changes after a keyring batch.
   */
  keys(): KeyResolver {
    return this.tokens.current();
  }

  /** Rebuilds the keyring from the store (called after a batch changed it). */
  reloadKeyring(): void {
    this.tokens.reload();
  }

  /**
   * An operator takes a compartment out of service or returns it to service (e.g. after a
   * repaired jam). Audited in the priority lane; back in service the failure count is
   * cleared, and a compartment with a live parcel inside becomes occupied, never free.
   */
  setCompartmentService(compartmentId: string, inService: boolean, by: string, details: { reason?: string; transactionId?: string } = {}): CompartmentServiceOutcome {
    return setCompartmentService(this.deps.store, { compartmentId, inService, by, ...details }, this.log);
  }

  health(): DeviceHealth {
    const { store } = this.deps;
    const lockout = this.guard.status();
    const wallRemaining = lockout.active ? { until: this.time.now() + lockout.remainingMs } : {};
    return {
      compartments: store.listCompartments().map((c) => ({
        id: c.id,
        status: c.status === 'free' ? 'ok' : c.status,
        door: this.doors.read(c.id),
      })),
      lockout: { active: lockout.active, failures: lockout.failures, ...wallRemaining },
      liveCodes: store.liveCodeCount(),
      auditBacklog: store.auditHighWatermark() - store.auditAckedWatermark(),
      clockFloor: this.time.floor(),
      codeSetVersion: store.codeSetState().version,
      awaitingDeposit: store.keypadCodeCounts().awaitingDeposit,
      rejectionAuditsSuppressed: store.suppressedRejections(),
      lockouts: this.guard.lockoutsBegun(),
      doorFailures: this.doors.failuresSinceBoot(),
      storage: this.storage.status(),
    };
  }

  /** Counters for operators and tests. */
  stats(): { handlerErrors: number; rejectedKeypad: number; rejectedScanner: number; remoteOutcomesUnstored: number } {
    return {
      handlerErrors: this.handlerErrors, rejectedKeypad: this.rejections.totals.keypad, rejectedScanner: this.rejections.totals.scanner,
      remoteOutcomesUnstored: this.remote.unstoredOutcomes,
    };
  }

  private remoteOpen(transactionId: string, compartmentId: string, reason: string): Promise<RemoteOpenOutcome> {
    try {
      return this.remote.open(transactionId, compartmentId, reason);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private afterBatch(keyringChanged: boolean): void {
    if (keyringChanged) this.reloadKeyring();
    this.checkLiveCodeOdds();
  }

  /**
   * The lockout math assumes at most maxLiveCodes codes the keypad can match
   * (docs/security.md §1): live ones and those awaiting deposit alike.
   */
  private checkLiveCodeOdds(): void {
    const max = this.deps.config.lockout.maxLiveCodes;
    // Runs after every batch: counting every open code there held the keypad for tens of
    // ms on a large set (decision 0025, addendum), so ask only whether there are more.
    if (this.deps.store.keypadCodeCountUpTo(max + 1) <= max) {
      this.oddsReported = false;
      return;
    }
    // Once per episode: the condition persists until the backend sends fewer codes.
    if (this.oddsReported) return;
    this.oddsReported = true;
    const counts = this.deps.store.keypadCodeCounts();
    const codes = counts.live + counts.awaitingDeposit;
    const data = { liveCodes: codes, awaitingDeposit: counts.awaitingDeposit, maxLiveCodes: max };
    this.log.warn(data, 'keypad.odds-degraded');
    this.deps.store.appendAudit('keypad.odds-degraded', 'priority', data);
  }

  private scheduleExpirySweep(): void {
    this.timers.start('expiry-sweep', this.deps.config.timeouts.expirySweepMs, () => {
      // Rescheduled first: a sweep whose write the disk refuses (full, failing) must not end
      // the sweeps, or parcels whose window ends later would never be flagged for return.
      if (this.running) this.scheduleExpirySweep();
      this.background('timer:expiry-sweep', () => {
        this.expiry.run();
        this.checkLiveCodeOdds();
      });
    });
  }

  private scheduleRetentionSweep(): void {
    this.timers.start('retention-sweep', this.deps.config.retention.sweepEveryMs, () => {
      // Rescheduled first: a failing run (logged by the timer's boundary) must not end the sweeps.
      if (this.running) this.scheduleRetentionSweep();
      this.background('timer:retention-sweep', () => this.retention.run());
    });
  }

  /**
   * A background job (a sweep): a write the disk refuses is noted (logged, counted in the
   * health report) but shown to no one. The timer's boundary would flash "unavailable" and
   * clear the keypad, which is for the person whose input hit the full disk; a sweep has no
   * such person, and now that sweeps go on while the disk stays full it would interrupt
   * whoever is typing a code, once per sweep. Anything else still goes to the boundary.
   */
  private background(source: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!this.storage.noteFailure(err, source)) throw err;
    }
  }

  private scheduleTick(): void {
    this.timers.start('clock-tick', this.deps.config.clock.tickMs, () => {
      // Rescheduled first: a tick whose checkpoint the disk refuses (full) must not end the
      // ticks, or the locker would never notice that space came back.
      if (this.running) this.scheduleTick();
      try {
        this.time.tick();
      } catch (err) {
        if (!this.storage.noteFailure(err, 'clock-tick')) throw err;
      }
      // While the disk is full: one small probe write per tick; it ends the outage when it commits.
      this.storage.probe(this.deps.store);
      // Committed: the remote opens' outcomes kept for repeats are in the store now.
      this.remote.forgetWritten();
      // Never while writes wait: the reserve would take the room they need. Only starts the
      // write (asynchronous: a pickup may be under way); cheap while nothing is to be done.
      if (!this.storage.degraded()) this.reserve?.check();
      this.storage.flushLogs();
      this.logRejectionSummary(this.rejectionLogs.flush(this.deps.clock.monotonicMs()));
    });
  }

  private onScan(scan: Scan): void {
    const data = scan.data;
    if (!data.startsWith(V4_PUBLIC_HEADER)) {
      if (!this.courier.onParcelScan(data)) this.display.flash(messages.scanNotRecognised, 'error');
      return;
    }
    const verification = this.tokens.verify(data, ['pickup', 'return-dropoff', 'courier', 'return-retrieval', 'service']);
    if (!verification.ok) {
      this.log.info({ reason: verification.reason }, 'scan.token-rejected');
      this.pickup.onToken(verification);
      return;
    }
    const { claims } = verification;
    switch (claims.purpose) {
      case 'courier':
        this.courier.onCourierCredential(claims);
        return;
      case 'return-retrieval':
        this.courier.onReturnRetrieval(claims);
        return;
      case 'pickup':
      case 'return-dropoff':
        this.pickup.onToken(verification);
        return;
      case 'service':
        this.courier.onService(claims);
        return;
    }
  }

  private onRejected(rejection: InputRejection): void {
    const monoNow = this.deps.clock.monotonicMs();
    // Every rejection is counted (stats); only the first per source and reason in a window is logged.
    const verdict = this.rejectionLogs.hit(`${rejection.source}:${rejection.reason}`, monoNow);
    this.logRejectionSummary(verdict.summary);
    if (verdict.log) this.log.warn({ source: rejection.source, reason: rejection.reason, length: rejection.length }, 'input.rejected');
    if (this.rejections.record(rejection, monoNow)) {
      this.deps.store.appendAudit('input.rejection-burst', 'normal', { source: rejection.source, reason: rejection.reason, threshold: REJECTION_BURST, windowMs: REJECTION_WINDOW_MS });
    }
  }

  private logRejectionSummary(summary: ThrottleSummary | undefined): void {
    if (summary !== undefined) this.log.warn({ suppressed: summary.suppressed, windowMs: summary.windowMs }, 'input.rejected-summary');
  }

  private showUnavailable(source: string): void {
    try {
      this.keypad.reset();
      this.display.flash(messages.unavailable, 'error');
    } catch (displayErr) {
      this.log.error({ source, err: displayErr }, 'runtime.display-failed');
    }
  }

  /** A start-up step whose write a full disk may refuse: noted, never fatal. */
  private startStep(source: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!this.storage.noteFailure(err, source)) throw err;
    }
  }

  /** The error boundary of every input handler and timer. */
  private boundary(source: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A full disk is not a bug: the write was refused before any door moved. Say so, once.
      if (this.storage.noteFailure(err, source)) {
        this.showUnavailable(source);
        return;
      }
      // Reported once by the store's corruption guard, and fatal for the process (main.ts):
      // the person is told the locker is unavailable, not to try again.
      if (isDatabaseCorrupt(err)) {
        this.showUnavailable(source);
        return;
      }
      this.handlerErrors += 1;
      const errorCode = isDeviceError(err) ? err.code : 'INTERNAL';
      this.log.error({ source, errorCode, err }, 'runtime.handler-failed');
      try {
        this.keypad.reset();
        this.display.flash(messages.genericError, 'error');
      } catch (displayErr) {
        this.log.error({ source, err: displayErr }, 'runtime.display-failed');
      }
    }
  }
}
