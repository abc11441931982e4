import type { GpioPin, GpioPinFactory, PinValue } from './gpio-pin.js';

type WatchCallback = (error: Error | null | undefined, value: PinValue) => void;

/**
 * A faithful in-memory GPIO for tests and benches: physical levels, activeLow inversion,
 * edge callbacks only on real changes, export/unexport, and injectable I/O errors. Tests
 * drive inputs with `setLevel` and inspect outputs with `level`.
 */
export class InMemoryGpio implements GpioPinFactory {
  private readonly pins = new Map<number, InMemoryPin>();

  output(pin: number, options: { activeLow: boolean }): GpioPin {
    const p = this.export(pin, 'out', options.activeLow);
    p.write(0);
    return p;
  }

  input(pin: number, options: { activeLow: boolean; debounceTimeoutMs: number }): GpioPin {
    return this.export(pin, 'in', options.activeLow);
  }

  /** The pin's physical level (before activeLow), e.g. what a relay board sees. */
  level(pin: number): PinValue {
    return this.pin(pin).physical;
  }

  /** Whether the pin's output is logically on (after activeLow). */
  isActive(pin: number): boolean {
    const p = this.pin(pin);
    return (p.physical ^ (p.activeLow ? 1 : 0)) === 1;
  }

  /** Drives an input physically; fires watchers on a change (edge 'both'). */
  setLevel(pin: number, physical: PinValue): void {
    this.pin(pin).setPhysical(physical);
  }

  /** Drives an input logically (after activeLow). */
  setLogical(pin: number, value: PinValue): void {
    const p = this.pin(pin);
    p.setPhysical((value ^ (p.activeLow ? 1 : 0)) as PinValue);
  }

  /** Makes reads/writes on the pin throw (e.g. EIO), and reports the error to watchers. */
  failIo(pin: number, error: Error | undefined): void {
    this.pin(pin).failWith(error);
  }

  /** Makes the next `count` writes to the pin throw EIO, then work again. */
  failNextWrites(pin: number, count: number): void {
    this.pin(pin).failingWrites = count;
  }

  /** Changes an input's level without an edge callback: an interrupt the kernel missed. */
  setLevelWithoutEdge(pin: number, physical: PinValue): void {
    this.pin(pin).physical = physical;
  }

  isExported(pin: number): boolean {
    return this.pins.get(pin)?.exported ?? false;
  }

  /** Every logical value written to an output, in order. */
  writes(pin: number): readonly PinValue[] {
    return [...this.pin(pin).written];
  }

  private export(pin: number, direction: 'in' | 'out', activeLow: boolean): InMemoryPin {
    if (this.pins.get(pin)?.exported === true) throw new Error(`EBUSY: GPIO ${pin} already exported`);
    const p = new InMemoryPin(pin, direction, activeLow);
    this.pins.set(pin, p);
    return p;
  }

  private pin(pin: number): InMemoryPin {
    const p = this.pins.get(pin);
    if (p === undefined) throw new Error(`GPIO ${pin} was never exported`);
    return p;
  }
}

class InMemoryPin implements GpioPin {
  physical: PinValue = 0;
  exported = true;
  failingWrites = 0;
  readonly written: PinValue[] = [];
  private watchers: WatchCallback[] = [];
  private error: Error | undefined;

  constructor(
    readonly number: number,
    readonly direction: 'in' | 'out',
    readonly activeLow: boolean,
  ) {
    if (activeLow) this.physical = 1;
  }

  read(): PinValue {
    this.check();
    return (this.physical ^ (this.activeLow ? 1 : 0)) as PinValue;
  }

  write(value: PinValue): void {
    this.check();
    if (this.direction !== 'out') throw new Error(`EPERM: GPIO ${this.number} is an input`);
    if (this.failingWrites > 0) {
      this.failingWrites--;
      throw new Error(`EIO: write to GPIO ${this.number} failed`);
    }
    this.written.push(value);
    this.physical = (value ^ (this.activeLow ? 1 : 0)) as PinValue;
  }

  watch(callback: WatchCallback): void {
    this.check();
    this.watchers.push(callback);
  }

  unwatch(): void {
    this.watchers = [];
  }

  unexport(): void {
    this.watchers = [];
    this.exported = false;
  }

  setPhysical(physical: PinValue): void {
    if (physical === this.physical) return;
    this.physical = physical;
    const logical = (physical ^ (this.activeLow ? 1 : 0)) as PinValue;
    for (const w of [...this.watchers]) w(null, logical);
  }

  failWith(error: Error | undefined): void {
    this.error = error;
    if (error !== undefined) for (const w of [...this.watchers]) w(error, 0);
  }

  private check(): void {
    if (!this.exported) throw new Error(`GPIO ${this.number} is not exported`);
    if (this.error !== undefined) throw this.error;
  }
}
