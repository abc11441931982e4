import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HalError } from '../hal-error.js';
import { RASPBERRY_PI_GPIO_LABELS, type GpioChipConfig } from '../hardware-config.js';
import type { GpioPinFactory } from './gpio-pin.js';

// Maps a chip's line offsets (the numbers a wiring diagram shows, BCM 17 …) to the global
// sysfs GPIO numbers onoff exports. Since Linux 6.6 the Raspberry Pi kernels number their
// chips dynamically from 512 (Pi 4: 512, Pi 5: 571), so "export 17" hits nothing or the
// wrong line; the base must be read from /sys/class/gpio/gpiochipN/base at start.

export interface SysfsGpioChip {
  /** The directory name, e.g. "gpiochip512". */
  name: string;
  label: string;
  base: number;
  ngpio: number;
}

/** Every gpiochip under the sysfs root, unreadable entries skipped. */
export function listSysfsGpioChips(sysfsRoot: string): SysfsGpioChip[] {
  let names: string[];
  try {
    names = readdirSync(sysfsRoot).filter((n) => /^gpiochip[0-9]+$/.test(n));
  } catch (error) {
    throw new HalError('GPIO_UNAVAILABLE', `cannot list GPIO chips in ${sysfsRoot}`, { cause: error });
  }
  const chips: SysfsGpioChip[] = [];
  for (const name of names) {
    try {
      const read = (file: string): string => readFileSync(join(sysfsRoot, name, file), 'utf8').trim();
      const base = Number(read('base'));
      const ngpio = Number(read('ngpio'));
      if (!Number.isInteger(base) || base < 0 || !Number.isInteger(ngpio) || ngpio <= 0) continue;
      chips.push({ name, label: read('label'), base, ngpio });
    } catch {
      // A chip being removed or a file we may not read: not ours to map onto.
      continue;
    }
  }
  return chips.sort((a, b) => a.base - b.base);
}

/** The configured chip (by label), or the first Raspberry Pi GPIO chip found. */
export function findGpioChip(config: GpioChipConfig): SysfsGpioChip {
  const chips = listSysfsGpioChips(config.sysfsRoot);
  const wanted = config.label === undefined ? RASPBERRY_PI_GPIO_LABELS : [config.label];
  for (const label of wanted) {
    const chip = chips.find((c) => c.label === label);
    if (chip !== undefined) return chip;
  }
  const found = chips.map((c) => `${c.name} "${c.label}" base ${String(c.base)}`).join(', ') || 'none';
  throw new HalError('GPIO_CHIP_NOT_FOUND', `no GPIO chip labelled ${wanted.join(' or ')} in ${config.sysfsRoot} (found: ${found})`);
}

/** The sysfs number of a line offset on the chip; GPIO_LINE_OUT_OF_RANGE past its last line. */
export function sysfsNumberOf(chip: SysfsGpioChip, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset >= chip.ngpio) {
    throw new HalError('GPIO_LINE_OUT_OF_RANGE', `GPIO line ${String(offset)} is not on ${chip.name} "${chip.label}" (lines 0-${String(chip.ngpio - 1)})`);
  }
  return chip.base + offset;
}

/**
 * A pin factory that takes line offsets and opens the sysfs numbers on `inner`. Checks every
 * offset up front so a wiring mistake fails at start, not at the first pulse.
 */
export function chipMappedGpioFactory(inner: GpioPinFactory, chip: SysfsGpioChip, offsets: readonly number[]): GpioPinFactory {
  for (const offset of offsets) sysfsNumberOf(chip, offset);
  return {
    output: (offset, options) => inner.output(sysfsNumberOf(chip, offset), options),
    input: (offset, options) => inner.input(sysfsNumberOf(chip, offset), options),
  };
}
