import { HalError } from '../hal-error.js';
import type { Clock, DoorState, TimerHandle } from '../types.js';

/** Every fault the simulator can inject, e.g. for a console's command list. */
export const SIM_FAULTS = [
  'stuck-relay',
  'relay-dead',
  'door-jammed',
  'sensor-dead',
  'sensor-bouncing',
  'sensor-stuck-closed',
  'forced-open',
] as const;

export type SimFault = (typeof SIM_FAULTS)[number];

export interface CompartmentBehaviour {
  /** A person is waiting and pulls the door the moment the latch releases. */
  autoOpenOnPulse: boolean;
  /** The person closes the door this long after it opened; undefined = never. */
  autoCloseAfterMs: number | undefined;
}

export interface CompartmentModelOptions {
  id: string;
  clock: Clock;
  behaviour: CompartmentBehaviour;
  /** Solenoid pull-in time: the latch releases only after being energised this long. */
  pullInMs: number;
  /** Raw toggle period of a bouncing sensor (well under the debounce window). */
  bouncePeriodMs: number;
}

/**
 * The mechanics of one compartment: a latch held open only while its relay is energised,
 * a door a person can pull open only while unlatched, that re-latches when closed, and a
 * sensor whose raw reading the faults can falsify. Faults model what the runtime must
 * survive; behaviours model the person at the locker.
 */
export class CompartmentModel {
  readonly id: string;
  private energisedNow = false;
  private released = false;
  private open = false;
  private readonly active = new Set<SimFault>();
  private behaviourNow: CompartmentBehaviour;
  private pullInTimer: TimerHandle | undefined;
  private closeTimer: TimerHandle | undefined;
  private bounceTimer: TimerHandle | undefined;
  private bouncePhase: DoorState = 'closed';
  private rawListener: (raw: DoorState) => void = () => undefined;

  constructor(private readonly options: CompartmentModelOptions) {
    this.id = options.id;
    this.behaviourNow = { ...options.behaviour };
  }

  /** The sensor driver subscribes here to receive every raw reading change. */
  onRawChange(listener: (raw: DoorState) => void): void {
    this.rawListener = listener;
  }

  get energised(): boolean {
    return this.energisedNow;
  }

  get doorIsOpen(): boolean {
    return this.open;
  }

  /** Closed and held by the latch. */
  get latched(): boolean {
    return !this.open && !this.released;
  }

  behaviour(): CompartmentBehaviour {
    return { ...this.behaviourNow };
  }

  setBehaviour(change: Partial<CompartmentBehaviour>): void {
    this.behaviourNow = { ...this.behaviourNow, ...change };
  }

  faults(): readonly SimFault[] {
    return [...this.active];
  }

  hasFault(fault: SimFault): boolean {
    return this.active.has(fault);
  }

  injectFault(fault: SimFault): void {
    this.withRawTracking(() => {
      this.active.add(fault);
      if (fault === 'forced-open') this.setOpen(true);
      if (fault === 'sensor-bouncing') this.startBouncing();
    });
  }

  /** Clears one fault, or all of them. A pried-open door stays open until closed. */
  clearFault(fault?: SimFault): void {
    this.withRawTracking(() => {
      if (fault === undefined) this.active.clear();
      else this.active.delete(fault);
      if (!this.active.has('sensor-bouncing')) this.stopBouncing();
    });
  }

  /** Relay driven on. Throws RELAY_FAULT for a dead relay (nothing is energised). */
  energise(): void {
    if (this.active.has('relay-dead')) {
      throw new HalError('RELAY_FAULT', `simulated dead relay on ${this.id}`);
    }
    this.energisedNow = true;
    if (this.active.has('stuck-relay')) return;
    if (this.options.pullInMs <= 0) {
      this.release();
      return;
    }
    this.pullInTimer = this.options.clock.setTimeout(() => {
      this.pullInTimer = undefined;
      if (this.energisedNow) this.release();
    }, this.options.pullInMs);
  }

  deEnergise(): void {
    this.energisedNow = false;
    if (this.pullInTimer !== undefined) this.options.clock.clearTimeout(this.pullInTimer);
    this.pullInTimer = undefined;
    // The bolt springs back; it only catches the door once the door is closed.
    this.released = false;
  }

  /** A person pulls the handle. Returns whether the door is open afterwards. */
  pullDoor(): boolean {
    if (this.open) return true;
    if (!this.released || this.active.has('door-jammed')) return false;
    this.withRawTracking(() => this.setOpen(true));
    return true;
  }

  /** A person pushes the door shut; it re-latches unless the relay is still holding it. */
  closeDoor(): void {
    this.withRawTracking(() => this.setOpen(false));
  }

  /** The raw sensor reading, with sensor faults applied. */
  rawSensor(): DoorState {
    if (this.active.has('sensor-dead')) return 'unknown';
    if (this.active.has('sensor-stuck-closed')) return 'closed';
    if (this.active.has('sensor-bouncing')) return this.bouncePhase;
    return this.open ? 'open' : 'closed';
  }

  dispose(): void {
    const { clock } = this.options;
    for (const t of [this.pullInTimer, this.closeTimer, this.bounceTimer]) {
      if (t !== undefined) clock.clearTimeout(t);
    }
    this.pullInTimer = this.closeTimer = this.bounceTimer = undefined;
  }

  private release(): void {
    this.released = true;
    if (this.behaviourNow.autoOpenOnPulse) this.pullDoor();
  }

  private setOpen(open: boolean): void {
    if (this.open === open) return;
    this.open = open;
    const { clock } = this.options;
    if (this.closeTimer !== undefined) clock.clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    const after = this.behaviourNow.autoCloseAfterMs;
    if (open && after !== undefined) {
      this.closeTimer = clock.setTimeout(() => {
        this.closeTimer = undefined;
        this.closeDoor();
      }, after);
    }
  }

  private startBouncing(): void {
    if (this.bounceTimer !== undefined) return;
    const tick = (): void => {
      this.withRawTracking(() => {
        this.bouncePhase = this.bouncePhase === 'open' ? 'closed' : 'open';
      });
      this.bounceTimer = this.options.clock.setTimeout(tick, this.options.bouncePeriodMs);
    };
    this.bouncePhase = this.open ? 'open' : 'closed';
    this.bounceTimer = this.options.clock.setTimeout(tick, this.options.bouncePeriodMs);
  }

  private stopBouncing(): void {
    if (this.bounceTimer !== undefined) this.options.clock.clearTimeout(this.bounceTimer);
    this.bounceTimer = undefined;
  }

  private withRawTracking(change: () => void): void {
    const before = this.rawSensor();
    change();
    const after = this.rawSensor();
    if (after !== before) this.rawListener(after);
  }
}
