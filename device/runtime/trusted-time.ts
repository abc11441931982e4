import { z } from 'zod';
import type { Clock } from '@locker/hal/types.js';
import { clockTrustStep, initialClockTrust, trustedNow, type ClockTrustEffect, type ClockTrustInput, type ClockTrustState } from '../core/clock-trust.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';

// The two time sources decisions use:
//  - trusted time (epoch ms): max(wall clock, persisted floor), see core/clock-trust.ts;
//  - device-awake time: monotonic ms accumulated across boots, checkpointed to the store.
//    Lockouts are measured in it, so power-off time and wall-clock changes never count.
// The awake checkpoint can only lag (a crash loses the time since the last one), which
// lengthens a lockout and never shortens it.

const AWAKE_KEY = 'awake-clock';
const AwakeBlob = z.object({ awakeMs: z.number().nonnegative() }).strict();

export class TrustedTime {
  private trust: ClockTrustState = initialClockTrust(0);
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
    this.trust = initialClockTrust(this.store.clockFloor());
    const blob = AwakeBlob.safeParse(parseOrUndefined(this.store.loadState(AWAKE_KEY)));
    this.awakeBase = blob.success ? blob.data.awakeMs : 0;
    if (!blob.success && this.store.loadState(AWAKE_KEY) !== undefined) this.log.error({}, 'awake-clock.corrupt');
    this.monoAtStart = this.clock.monotonicMs();
    this.started = true;
    this.tick();
  }

  /** Trusted epoch ms; before start, the wall clock (the store stamps its open with it). */
  now(): number {
    if (!this.started) return Math.floor(this.clock.now());
    return Math.floor(trustedNow(this.trust, this.clock.now()));
  }

  awakeNow(): number {
    return this.awakeBase + (this.clock.monotonicMs() - this.monoAtStart);
  }

  floor(): number {
    return this.trust.floor;
  }

  /** Periodic: advance and persist the floor, report jumps, checkpoint awake time. */
  tick(): void {
    // One commit (one fsync) per tick for both the floor and the awake checkpoint.
    this.store.transaction(() => {
      this.step({ type: 'tick', wall: this.clock.now(), mono: this.clock.monotonicMs() });
      this.checkpointAwake();
    });
  }

  observeSignedTime(epochMs: number, source: string): void {
    this.step({ type: 'signed-time', epochMs, source, wall: this.clock.now(), mono: this.clock.monotonicMs() });
  }

  checkpointAwake(): void {
    this.store.saveState(AWAKE_KEY, JSON.stringify({ awakeMs: this.awakeNow() }));
  }

  private step(input: ClockTrustInput): void {
    const { state, effects } = clockTrustStep(this.trust, input, this.config);
    this.trust = state;
    this.store.transaction(() => {
      for (const effect of effects) this.execute(effect);
    });
  }

  private execute(effect: ClockTrustEffect): void {
    switch (effect.type) {
      case 'raise-floor':
        this.store.raiseClockFloor(effect.epochMs);
        return;
      case 'audit':
        this.log.warn(effect.data, effect.auditType);
        this.store.appendAudit(effect.auditType, effect.lane, effect.data);
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
