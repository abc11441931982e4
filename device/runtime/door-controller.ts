import { relayMayHaveEnergised } from '@locker/hal/hal-error.js';
import type { DoorState, LockerHardware, RandomSource } from '@locker/hal/types.js';
import {
  canCommandOpen,
  doorAtBoot,
  doorSupervisorStep,
  expectsDoorChange,
  type DoorEvent,
  type DoorFailure,
  type DoorSupervisorConfig,
  type DoorSupervisorEffect,
  type DoorSupervisorInput,
  type DoorSupervisorState,
} from '../core/door-supervisor.js';
import type { DoorFlapConfig } from '../core/door-flap-guard.js';
import type { Logger } from '../logger.js';
import type { OpenOperation, OpenReason, RuntimeStore } from '../store/runtime-store.js';
import type { Display } from './display.js';
import { DoorFlapFilter } from './door-flap-filter.js';
import type { StorageHealth } from './storage-health.js';
import type { NamedTimers } from './timers.js';
import { spendUnknownOpen } from './unknown-open.js';

// Executes the door supervisors' effects. Every pulse goes through the open journal:
// beginOpen and its audit record are committed BEFORE the relay is energised, finishOpen
// when the sensor decided. One operation per compartment, from the command until its door
// has closed again (or the open failed): a second open gets 'busy' and never takes over
// the first one's door events. Unfinished opens found at start (the process died mid-open)
// are finished as 'unknown', spend their single-use token, and are never pulsed again.
// stop() lets opens in flight finish (bounded wait), then resolves the rest the same way
// BEFORE the relays are switched off and the store closed: a graceful stop never turns an
// open that may have energised the relay into a reusable 'relay-fault'.

/** The steps of one open, for fault injection (crash tests): each is hit exactly once. */
export type OpenStep = 'journaled' | 'relay-on' | 'relay-off' | 'door-event';

export interface OpenRequest {
  compartmentId: string;
  reason: OpenReason;
  tokenId?: string;
  parcelId?: string;
  transactionId?: string;
}

export type OpenStart = { started: true; opId: string } | { started: false; reason: 'busy' | 'unknown-compartment' };

export type DoorListener = (event: DoorEvent) => void;

export interface DoorControllerDeps {
  hardware: LockerHardware;
  store: RuntimeStore;
  random: RandomSource;
  timers: NamedTimers;
  display: Display;
  /** Device time, epoch ms: when an open started (the journal). */
  now: () => number;
  /** Monotonic ms: how long a door has been open or unlocking, and the flap windows (durations only). */
  monotonicNow: () => number;
  log: Logger;
  config: DoorSupervisorConfig & { pulseMs: number; failuresBeforeOutOfService: number; flap?: DoorFlapConfig };
  /** Called right before each relay pulse (the crash test logs pulses here). */
  beforePulse?: (compartmentId: string, opId: string) => void;
  /** Called at each step of an open (crash tests kill or stop the process here). */
  openStep?: (step: OpenStep, compartmentId: string, opId: string) => void;
  /** Wraps asynchronous continuations in the runtime's error boundary. */
  guard: (source: string, fn: () => void) => void;
  /** Refused writes (disk full) and the door records waiting for space. */
  storage: Pick<StorageHealth, 'noteFailure' | 'writeOrDefer' | 'commitOrThrow'>;
}

const terminal: ReadonlySet<DoorEvent> = new Set(['closed', 'jammed', 'relay-fault', 'unverified']);

export class DoorController {
  private readonly doors = new Map<string, DoorSupervisorState>();
  /** Sensor changes pass a flap guard before the supervisors see them. */
  private readonly flaps: DoorFlapFilter;
  private readonly inFlight = new Set<string>();
  private readonly listeners = new Map<string, DoorListener>();
  private readonly opCompartment = new Map<string, string>();
  private stopping = false;
  private stopped = false;
  private opsSettled: (() => void) | undefined;
  /** Door failures since this process started, by kind (health report; the store keeps only the consecutive count). */
  private readonly failureCounts: Record<DoorFailure, number> = { jammed: 0, 'relay-fault': 0, 'sensor-unknown': 0 };

  constructor(private readonly deps: DoorControllerDeps) {
    this.flaps = new DoorFlapFilter({
      timers: deps.timers, now: deps.monotonicNow, log: deps.log,
      ...(deps.config.flap === undefined ? {} : { config: deps.config.flap }),
      onChange: (id, state) => this.supervise(id, state),
      onFlapping: (id, edges, windowMs) => this.input(id, { type: 'sensor-flapping', edges, windowMs }),
    });
  }

  /** Finishes opens a crash left behind as 'unknown', then takes the doors as they are. */
  start(): void {
    const { store, hardware } = this.deps;
    this.stopping = false;
    this.stopped = false;
    for (const op of store.unfinishedOpens()) this.resolveUnknown(op, 'restart');
    for (const id of hardware.relays.compartments()) {
      const state = doorAtBoot(hardware.doors.read(id), this.deps.monotonicNow());
      this.doors.set(id, state);
      // A door found open at boot is supervised like any open door: left-open alarm.
      if (state.kind === 'open') this.execute(id, { type: 'start-timer', timer: 'left-open', ms: this.deps.config.leftOpenMs });
    }
    this.flaps.start(hardware.relays.compartments());
  }

  /**
   * Graceful stop, before the relays are switched off and the store is closed: refuses new
   * opens, waits up to `waitMs` (on the runtime's timers) for opens in flight to be decided
   * by the door sensor, then finishes every open still undecided as 'unknown', spending its
   * single-use token (the relay may have energised), in one commit each. Late relay and
   * door callbacks are ignored afterwards.
   */
  async stop(waitMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { store, timers } = this.deps;
    if (store.unfinishedOpens().length > 0) {
      await new Promise<void>((resolve) => {
        this.opsSettled = resolve;
        timers.start('door:stop-wait', waitMs, resolve);
      });
      this.opsSettled = undefined;
      timers.cancel('door:stop-wait');
    }
    this.stopped = true;
    this.flaps.stop();
    for (const op of store.unfinishedOpens()) this.resolveUnknown(op, 'stop');
    this.listeners.clear();
    this.opCompartment.clear();
  }

  read(compartmentId: string): DoorState {
    return this.deps.hardware.doors.read(compartmentId);
  }

  /** Door failures since this process started, by kind. */
  failuresSinceBoot(): Record<DoorFailure, number> {
    return { ...this.failureCounts };
  }

  /** True when a new open may start now: no pulse in flight, no earlier open still owning the door. */
  isIdle(compartmentId: string): boolean {
    const state = this.doors.get(compartmentId);
    return state !== undefined && canCommandOpen(state) && !this.inFlight.has(compartmentId);
  }

  isOpen(compartmentId: string): boolean {
    return this.doors.get(compartmentId)?.kind === 'open' || this.read(compartmentId) === 'open';
  }

  /** A fresh operation id, for callers that must know it before events can arrive. */
  newOpId(): string {
    return Buffer.from(this.deps.random.bytes(12)).toString('hex');
  }

  /**
   * Journals and starts an open. Door events for it may be delivered to `listener` before
   * this returns (a door already open, a dead sensor): callers set their state first.
   */
  open(request: OpenRequest, listener?: DoorListener, opId: string = this.newOpId(), alsoInTransaction?: () => void): OpenStart {
    const { store, now } = this.deps;
    const { compartmentId } = request;
    if (!this.doors.has(compartmentId) || store.getCompartment(compartmentId) === undefined) return { started: false, reason: 'unknown-compartment' };
    // A stopping locker starts nothing it could not see through.
    if (this.stopping || !this.isIdle(compartmentId)) return { started: false, reason: 'busy' };
    const startedAt = now();
    // A full card that the storage reserve's release makes room on commits at the second
    // try: the customer in front of the door is served, not turned away once.
    this.deps.storage.commitOrThrow('door:open-journal', () => store.transaction(() => {
      // Writes the caller needs durable before the pulse share its one commit (one fsync).
      alsoInTransaction?.();
      store.beginOpen({ opId, startedAt, ...request });
      store.appendAudit('door.open-begun', 'normal', {
        opId,
        compartmentId,
        reason: request.reason,
        ...(request.tokenId === undefined ? {} : { tokenId: request.tokenId }),
        ...(request.parcelId === undefined ? {} : { parcelId: request.parcelId }),
        ...(request.transactionId === undefined ? {} : { transactionId: request.transactionId }),
      });
    }));
    if (listener !== undefined) this.listeners.set(opId, listener);
    this.opCompartment.set(opId, compartmentId);
    // A flapping sensor's reading means nothing: the open is pulsed and ends as 'unknown'.
    const door = this.flaps.isFlapping(compartmentId) ? 'unknown' : this.read(compartmentId);
    this.input(compartmentId, { type: 'command-open', opId, door });
    return { started: true, opId };
  }

  onDoorChange(compartmentId: string, state: DoorState): void {
    const supervised = this.doors.get(compartmentId);
    if (supervised === undefined) return;
    this.flaps.change(compartmentId, state, expectsDoorChange(supervised));
  }

  private supervise(compartmentId: string, state: DoorState): void {
    const supervised = this.doors.get(compartmentId);
    if (supervised === undefined) return;
    if (supervised.kind === 'unlocking' && state === 'open') this.deps.openStep?.('door-event', compartmentId, supervised.opId);
    this.input(compartmentId, { type: 'door', state });
  }

  /**
   * Finishes an open nobody saw through as 'unknown' and spends its single-use token (§2).
   * A full disk (a start or stop while it lasts) must not stop the locker from starting:
   * the write waits for space like a door record, and its token counts as spent meanwhile,
   * so space coming back before the write cannot reopen that door for the same code.
   */
  private resolveUnknown(op: OpenOperation, cause: 'restart' | 'stop'): void {
    const { store, log } = this.deps;
    let tokenSpent: boolean | undefined;
    const written = this.deps.storage.writeOrDefer(store, `door:open-unknown:${cause}`, 'door.open-unknown', (s, time) => {
      s.finishOpen(op.opId, 'unknown', time.at);
      const result = spendUnknownOpen(s, op, time);
      tokenSpent = result.tokenSpent;
      s.appendAudit('door.open-unknown', 'priority', {
        opId: op.opId,
        compartmentId: op.compartmentId,
        reason: op.reason,
        startedAt: op.startedAt,
        tokenSpent: result.tokenSpent,
        cause,
        ...(op.tokenId === undefined ? {} : { tokenId: op.tokenId }),
        ...(op.parcelId === undefined ? {} : { parcelId: op.parcelId }),
        ...(op.transactionId === undefined ? {} : { transactionId: op.transactionId }),
        ...(result.closedEntries.length === 0 ? {} : { closedEntries: result.closedEntries }),
        ...time.late,
      });
    }, {
      ...(op.tokenId === undefined ? {} : { spentTokenId: op.tokenId }),
      // A return drop-off may be inside: held occupied, as spendUnknownOpen will record it.
      ...(op.reason === 'return-dropoff' ? { occupiedCompartmentId: op.compartmentId } : {}),
    });
    log.warn({ opId: op.opId, compartmentId: op.compartmentId, reason: op.reason, cause, ...(written ? { tokenSpent } : { deferred: true }) }, 'door.open-unknown');
  }

  /** During a stop's wait: ends it as soon as no open is left undecided. */
  private checkSettled(): void {
    if (this.opsSettled !== undefined && this.deps.store.unfinishedOpens().length === 0) this.opsSettled();
  }

  private input(compartmentId: string, input: DoorSupervisorInput): void {
    if (this.stopped) return;
    const state = this.doors.get(compartmentId);
    if (state === undefined) return;
    const step = doorSupervisorStep(state, input, this.deps.monotonicNow(), this.deps.config);
    this.doors.set(compartmentId, step.state);
    // Each effect on its own: a write the full disk refuses must not swallow the alarm or
    // the timers after it (the supervisor's state has already moved on). The door's records
    // (audit, finish-open) are not lost: written, in order and with their time, once there
    // is room (storage-health.ts).
    // The journal's finish goes last: the flow's record of what the open did (a token
    // spent, a deposit) is written first, so a full disk that refuses that record also
    // queues the finish behind it. Were the finish committed alone (an UPDATE often fits
    // where an INSERT does not), a restart would find a finished open, lose the record
    // held in memory, and the same code would open the door again. Left unfinished, the
    // restart resolves it as 'unknown' and spends the token (unknown-open.ts).
    const effects = [...step.effects.filter((e) => e.type !== 'finish-open'), ...step.effects.filter((e) => e.type === 'finish-open')];
    for (const effect of effects) {
      try {
        this.execute(compartmentId, effect);
      } catch (err) {
        if (!this.deps.storage.noteFailure(err, `door:${effect.type}`)) throw err;
      }
    }
  }

  private execute(compartmentId: string, effect: DoorSupervisorEffect): void {
    const { store, timers, log, config, display } = this.deps;
    const timerName = (t: string): string => `door:${compartmentId}:${t}`;
    switch (effect.type) {
      case 'pulse':
        this.pulse(compartmentId, effect.opId);
        return;
      case 'finish-open':
        this.deps.storage.writeOrDefer(store, 'door:finish-open', 'door.open-finished', (s, { at }) => s.finishOpen(effect.opId, effect.outcome, at));
        log.info({ compartmentId, opId: effect.opId, outcome: effect.outcome }, 'door.open-finished');
        queueMicrotask(() => this.checkSettled());
        return;
      case 'start-timer':
        timers.start(timerName(effect.timer), effect.ms, () => this.input(compartmentId, { type: 'timeout', timer: effect.timer }));
        return;
      case 'cancel-timer':
        timers.cancel(timerName(effect.timer));
        return;
      case 'audit':
        this.deps.storage.writeOrDefer(store, 'door:audit', effect.auditType, (s, { late }) => s.appendAudit(effect.auditType, effect.lane, { compartmentId, ...effect.data, ...late }));
        return;
      case 'failure': {
        this.failureCounts[effect.reason]++;
        // Counted (and the compartment taken out at the threshold) now, or on recovery from
        // a full disk, in order with the door's other records. Meanwhile no open can be
        // journaled, so the door stays shut whatever its count says (only between space
        // coming back and the next tick may it be pulsed once more: a faulty door, no parcel
        // at stake).
        let failures: number | undefined;
        const written = this.deps.storage.writeOrDefer(store, 'door:failure', 'door.failure', (s, { late }) => {
          const n = s.recordCompartmentFailure(compartmentId);
          if (n >= config.failuresBeforeOutOfService && s.getCompartment(compartmentId)?.status !== 'out-of-service') {
            s.setCompartmentStatus(compartmentId, 'out-of-service', { reason: effect.reason });
            s.appendAudit('compartment.out-of-service', 'priority', { compartmentId, reason: effect.reason, failures: n, ...late });
          }
          failures = n;
        });
        log.warn({ compartmentId, reason: effect.reason, ...(written ? { failures } : { deferred: true }) }, 'door.failure');
        return;
      }
      case 'good-cycle':
        // Behind any failure still waiting, so the count ends as the door behaved.
        this.deps.storage.writeOrDefer(store, 'door:good-cycle', 'door.good-cycle', (s) => s.resetCompartmentFailures(compartmentId));
        return;
      case 'alarm':
        if (effect.active) {
          log.warn({ compartmentId, reason: effect.reason }, 'door.alarm');
          display.show({ tone: 'alarm', text: effect.reason === 'left-open' ? `Please close door ${compartmentId}.` : `Door ${compartmentId} opened without authorisation.`, compartmentId });
          display.beep('alarm');
        } else {
          display.idle();
        }
        return;
      case 'door-event': {
        if (effect.opId === undefined) return;
        const listener = this.listeners.get(effect.opId);
        if (terminal.has(effect.event)) {
          this.listeners.delete(effect.opId);
          this.opCompartment.delete(effect.opId);
        }
        listener?.(effect.event);
        return;
      }
    }
  }

  private pulse(compartmentId: string, opId: string): void {
    const { hardware, config, log, guard, openStep } = this.deps;
    this.inFlight.add(compartmentId);
    this.deps.beforePulse?.(compartmentId, opId);
    openStep?.('journaled', compartmentId, opId);
    log.info({ compartmentId, opId }, 'relay.pulse');
    const pulse = hardware.relays.pulse(compartmentId, config.pulseMs);
    // The bank energises synchronously when the compartment is idle.
    openStep?.('relay-on', compartmentId, opId);
    pulse.then(
      () => {
        this.inFlight.delete(compartmentId);
        openStep?.('relay-off', compartmentId, opId);
      },
      (err: unknown) => {
        this.inFlight.delete(compartmentId);
        // After stop() every unfinished open is already resolved (and the store may be closed).
        if (this.stopped) return;
        guard('relay', () => {
          const energised = relayMayHaveEnergised(err);
          log.error({ compartmentId, opId, err, energised }, 'relay.pulse-failed');
          this.input(compartmentId, { type: 'pulse-failed', opId, energised });
        });
      },
    );
  }
}
