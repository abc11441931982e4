// The GPIO seam. onoff has no mock mode and throws ENOENT without /sys/class/gpio, so the
// drivers take a factory: onoff on the board, InMemoryGpio in tests. Calls are synchronous
// (sysfs writes are), which lets the relay off-path run without awaiting anything.

export type PinValue = 0 | 1;

export interface GpioPin {
  /** Logical value (activeLow already applied). Throws on I/O error. */
  read(): PinValue;
  /** Throws on I/O error. */
  write(value: PinValue): void;
  /** Edge callback (both edges) with the new logical value, or an error. */
  watch(callback: (error: Error | null | undefined, value: PinValue) => void): void;
  unwatch(): void;
  /** Releases the pin. Safe to call twice. */
  unexport(): void;
}

export interface GpioPinFactory {
  /** An output pin, driven to logical 0 before it is returned. */
  output(pin: number, options: { activeLow: boolean }): GpioPin;
  /** An input pin with edge detection on both edges. */
  input(pin: number, options: { activeLow: boolean; debounceTimeoutMs: number }): GpioPin;
}
