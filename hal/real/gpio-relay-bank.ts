import type { Logger } from 'pino';
import { PulsedRelayBank } from '../pulsed-relay-bank.js';
import type { Clock } from '../types.js';
import type { GpioPin, GpioPinFactory } from './gpio-pin.js';

export interface GpioRelayBankOptions {
  /** Compartment id → GPIO number of its relay. */
  relays: ReadonlyMap<string, number>;
  activeLow: boolean;
  maxPulseMs: number;
  clock: Clock;
  gpio: GpioPinFactory;
  logger?: Logger;
}

/**
 * Lock relays on GPIO outputs. Every pin is driven off as it is exported (a reboot
 * mid-pulse must not leave a solenoid energised) and again at close; the shared
 * PulsedRelayBank supplies the clamp, serialisation and the always-off timer.
 */
export class GpioRelayBank extends PulsedRelayBank {
  private readonly pins: Map<string, GpioPin>;

  constructor(options: GpioRelayBankOptions) {
    const pins = new Map<string, GpioPin>();
    try {
      for (const [id, pin] of options.relays) pins.set(id, options.gpio.output(pin, { activeLow: options.activeLow }));
    } catch (error) {
      for (const p of pins.values()) safely(() => p.write(0), () => p.unexport());
      throw error;
    }
    const pin = (id: string): GpioPin => {
      const p = pins.get(id);
      if (p === undefined) throw new Error(`no pin for ${id}`);
      return p;
    };
    super({
      compartments: [...options.relays.keys()],
      maxPulseMs: options.maxPulseMs,
      clock: options.clock,
      outputs: { on: (id) => pin(id).write(1), off: (id) => pin(id).write(0) },
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    this.pins = pins;
    for (const p of pins.values()) safely(() => p.write(0));
  }

  override async close(): Promise<void> {
    await super.close();
    for (const p of this.pins.values()) safely(() => p.unexport());
  }
}

function safely(...actions: Array<() => void>): void {
  for (const action of actions) {
    try {
      action();
    } catch {
      // Best effort on the way down: the next action must still run.
    }
  }
}
