import { z } from 'zod';
import type { Clock } from '@locker/hal/types.js';
import {
  clockTrustStep,
  confirmedNow,
  deviceNow,
  initialClockTrust,
  type ClockTrustEffect,
  type ClockTrustInput,
  type ClockTrustState,
} from '../core/clock-trust.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';

// The two time sources decisions use:
//  - device time (epoch ms): the last anchor (a backend-signed time, or a new board's first
//    wall reading) plus monotonic time since, checkpointed to the store; see
//    core/clock-trust.ts and docs/decisions/0019. Wall-clock jumps do not move it;
//  - device-awake time: monotonic ms accumulated across boots, checkpointed to the store.
//    Lockouts are measured in it, so power-off time and wall-clock changes never count.
// Both checkpoints can only lag (a crash loses the time since the last one), which
// lengthens a lockout or a token window and never shortens it.

const AWAKE_KEY = 'awake-clock';
const AwakeBlob = z.object({ awakeMs: z.number().nonnegative() }).strict();

/** What the flows need from time: device time, and whether it is confirmed. */
export interface DeviceTime {
  /** Device time, epoch ms: token windows, courier sessions, timestamps. */
  now(): number;
  /** Device time when it descends from a backend-signed time, else undefined: expiry for return. */
  confirmedNow(): number | undefined;
}

export class TrustedTime implements DeviceTime {
  private trust: ClockTrustState = initialClockTrust({ floorMs: 0, confirmed: false, signedMaxMs: 0 });
  private awakeBase = 0;
  private monoAtStart = 0;
  private started = false;

  constructor(
    private readonly clock: Clock,
    private readonly store: RuntimeStore,
    private readonly config: { toleranceMs: number },
    private readonly log: Logger,
  ) {}

  start(): void {
    this.trust = initialClockTrust(this.store.clockTrust());
    const blob = AwakeBlob.safeParse(parseOrUndefined(this.store.loadState(AWAKE_KEY)));
    this.awakeBase = blob.success ? blob.data.awakeMs : 0;
    if (!blob.success && this.store.loadState(AWAKE_KEY) !== undefined) this.log.error({}, 'awake-clock.corrupt');
    this.monoAtStart = this.clock.monotonicMs();
    this.started = true;
    this.store.transaction(() => {
      this.step({ type: 'boot', wall: this.clock.now(), mono: this.monoAtStart });
      this.checkpointAwake();
    });
    this.log.info({ floorMs: this.trust.baseMs, confirmed: this.trust.confirmed, wallMs: this.clock.now() }, 'clock.started');
  }

  /** Device time; before start, the wall clock (the store stamps its open with it). */
  now(): number {
    if (!this.started) return Math.floor(this.clock.now());
    return deviceNow(this.trust, this.clock.monotonicMs());
  }

  confirmedNow(): number | undefined {
    if (!this.started) return undefined;
    return confirmedNow(this.trust, this.clock.monotonicMs());
  }

  confirmed(): boolean {
    return this.trust.confirmed;
  }

  awakeNow(): number {
    return this.awakeBase + (this.clock.monotonicMs() - this.monoAtStart);
  }

  /** Device time as last checkpointed (health, device.started). */
  floor(): number {
    return this.trust.persisted.floorMs;
  }

  /** Periodic: checkpoint device time, report wall-clock jumps, checkpoint awake time. */
  tick(): void {
    // One commit (one fsync) per tick for both checkpoints.
    this.store.transaction(() => {
      this.step({ type: 'tick', wall: this.clock.now(), mono: this.clock.monotonicMs() });
      this.checkpointAwake();
    });
  }

  /** A time from a message signed by a trusted backend key. */
  observeSignedTime(epochMs: number, source: string): void {
    if (!this.started) {
      // The anchors are loaded at start; before that there is nothing to correct.
      this.log.warn({ source }, 'clock.signed-time-before-start');
      return;
    }
    this.store.transaction(() => this.step({ type: 'signed-time', epochMs, source, wall: this.clock.now(), mono: this.clock.monotonicMs() }));
  }

  /** At stop: both checkpoints, so a clean restart loses no device time. */
  checkpoint(): void {
    this.tick();
  }

  checkpointAwake(): void {
    this.store.saveState(AWAKE_KEY, JSON.stringify({ awakeMs: this.awakeNow() }));
  }

  private step(input: ClockTrustInput): void {
    const { state, effects } = clockTrustStep(this.trust, input, this.config);
    this.trust = state;
    for (const effect of effects) this.execute(effect);
  }

  private execute(effect: ClockTrustEffect): void {
    switch (effect.type) {
      case 'persist':
        // Refused only if the row disagrees with the machine (e.g. edited by hand): the
        // machine's value stays in memory and the next change tries again.
        if (!this.store.saveClockTrust(effect.value)) this.log.error({ ...effect.value, stored: this.store.clockTrust() }, 'clock.persist-refused');
        return;
      case 'audit':
        this.log.warn(effect.data, effect.auditType);
        this.store.appendAudit(effect.auditType, effect.lane, effect.data);
        return;
      case 'ignored-signed-time':
        this.log.warn({ epochMs: effect.epochMs, source: effect.source }, 'clock.signed-time-ignored');
        return;
    }
  }
}

function parseOrUndefined(json: string | undefined): unknown {
  if (json === undefined) return undefined;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}
