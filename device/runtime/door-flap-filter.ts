import type { DoorState } from '@locker/hal/types.js';
import { DEFAULT_DOOR_FLAP, doorFlapStep, doorSteady, isFlapping, type DoorFlapConfig, type DoorFlapEffect, type DoorFlapInput, type DoorFlapState } from '../core/door-flap-guard.js';
import type { Logger } from '../logger.js';
import type { NamedTimers } from './timers.js';

// Runs one flap guard (core/door-flap-guard.ts) per door sensor in front of the door
// supervisors: executes its effects with the runtime's timers and hands on what the
// supervisors should see.

export interface DoorFlapFilterDeps {
  timers: NamedTimers;
  /** Monotonic ms: the windows are durations, which a signed time moving device time must not stretch. */
  now: () => number;
  log: Logger;
  config?: DoorFlapConfig;
  /** A sensor change the supervisor should see. */
  onChange: (compartmentId: string, state: DoorState) => void;
  /** The sensor started flapping (once per spell). */
  onFlapping: (compartmentId: string, edges: number, windowMs: number) => void;
}

export class DoorFlapFilter {
  private readonly guards = new Map<string, DoorFlapState>();
  private enabled = false;

  constructor(private readonly deps: DoorFlapFilterDeps) {}

  start(compartmentIds: readonly string[]): void {
    for (const id of compartmentIds) this.guards.set(id, doorSteady);
    this.enabled = true;
  }

  /** Late sensor changes and quiet timers are ignored afterwards. */
  stop(): void {
    this.enabled = false;
  }

  /** While true, the sensor's reading means nothing. */
  isFlapping(compartmentId: string): boolean {
    return isFlapping(this.guards.get(compartmentId) ?? doorSteady);
  }

  /** `expected`: the supervisor waits for this change (door-supervisor.ts expectsDoorChange). */
  change(compartmentId: string, state: DoorState, expected: boolean): void {
    this.input(compartmentId, { type: 'change', state, expected });
  }

  private input(compartmentId: string, input: DoorFlapInput): void {
    const guard = this.guards.get(compartmentId);
    if (!this.enabled || guard === undefined) return;
    const step = doorFlapStep(guard, input, this.deps.now(), this.deps.config ?? DEFAULT_DOOR_FLAP);
    this.guards.set(compartmentId, step.state);
    for (const effect of step.effects) this.execute(compartmentId, effect);
  }

  private execute(compartmentId: string, effect: DoorFlapEffect): void {
    const { log, timers } = this.deps;
    switch (effect.type) {
      case 'pass':
        this.deps.onChange(compartmentId, effect.state);
        return;
      case 'flapping':
        log.warn({ compartmentId, edges: effect.edges, windowMs: effect.windowMs }, 'door.sensor-flapping');
        this.deps.onFlapping(compartmentId, effect.edges, effect.windowMs);
        return;
      case 'start-quiet-timer':
        timers.start(`door:${compartmentId}:flap-quiet`, effect.ms, () => this.input(compartmentId, { type: 'quiet' }));
        return;
      case 'settled':
        log.info({ compartmentId, state: effect.state, suppressed: effect.suppressed, flappedMs: effect.flappedMs }, 'door.sensor-settled');
        return;
    }
  }
}
