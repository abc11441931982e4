import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../clock/fake-clock.js';
import { isHalError } from '../hal-error.js';
import { parseHardwareConfig, type RealHardwareConfig } from '../hardware-config.js';
import { GpioRelayBank } from './gpio-relay-bank.js';
import { InMemoryGpio } from './in-memory-gpio.js';
import { createBoardGpioFactory } from './real-hardware.js';
import { findGpioChip, listSysfsGpioChips, sysfsNumberOf } from './sysfs-gpio-chip.js';

// A fake /sys/class/gpio tree as the kernels on the boards show it.

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function fakeSysfs(chips: Array<{ name: string; label: string; base: number; ngpio: number }>): string {
  const root = mkdtempSync(join(tmpdir(), 'sysfs-gpio-'));
  roots.push(root);
  writeFileSync(join(root, 'export'), '');
  writeFileSync(join(root, 'unexport'), '');
  for (const c of chips) {
    mkdirSync(join(root, c.name));
    writeFileSync(join(root, c.name, 'label'), `${c.label}\n`);
    writeFileSync(join(root, c.name, 'base'), `${String(c.base)}\n`);
    writeFileSync(join(root, c.name, 'ngpio'), `${String(c.ngpio)}\n`);
  }
  return root;
}

// Raspberry Pi OS bookworm, kernel 6.6+: the Pi 4's SoC chip from 512, the expander after it.
const pi4 = [
  { name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
  { name: 'gpiochip570', label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
];
// Pi 5: the RP1's header chip from 571, after the SoC's own chips.
const pi5 = [
  { name: 'gpiochip512', label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
  { name: 'gpiochip544', label: 'gpio-brcmstb@107d517c00', base: 544, ngpio: 15 },
  { name: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 },
];
// Older kernels: the SoC chip from 0.
const legacy = [{ name: 'gpiochip0', label: 'pinctrl-bcm2835', base: 0, ngpio: 54 }];

function realConfig(sysfsRoot: string, extra: Record<string, unknown> = {}): RealHardwareConfig {
  const config = parseHardwareConfig({
    kind: 'real',
    compartments: [{ id: 'A01', relayPin: 17, doorPin: 27 }, { id: 'A02', relayPin: 22, doorPin: 23 }],
    gpioChip: { sysfsRoot, ...extra },
    keypad: { path: '/dev/ttyUSB0' },
    scanner: { path: '/dev/ttyUSB1' },
    display: { path: '/dev/ttyUSB2' },
  });
  if (config.kind !== 'real') throw new Error('expected real');
  return config;
}

describe('GPIO lines mapped through the sysfs chip base and label', () => {
  it('maps BCM 17 to sysfs 529 on a Pi 4 whose chip is numbered from 512', () => {
    const chip = findGpioChip({ sysfsRoot: fakeSysfs(pi4) });
    expect(chip).toEqual({ name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 });
    expect(sysfsNumberOf(chip, 17)).toBe(529);
  });

  it('maps BCM 17 to sysfs 588 on a Pi 5, skipping chips that are not the header', () => {
    const chip = findGpioChip({ sysfsRoot: fakeSysfs(pi5) });
    expect(chip.label).toBe('pinctrl-rp1');
    expect(sysfsNumberOf(chip, 17)).toBe(588);
  });

  it('still maps BCM 17 to 17 on a kernel that numbers from 0', () => {
    expect(sysfsNumberOf(findGpioChip({ sysfsRoot: fakeSysfs(legacy) }), 17)).toBe(17);
  });

  it('uses the chip the config names by label', () => {
    const chip = findGpioChip({ sysfsRoot: fakeSysfs(pi4), label: 'raspberrypi-exp-gpio' });
    expect(sysfsNumberOf(chip, 2)).toBe(572);
  });

  it('fails with GPIO_CHIP_NOT_FOUND naming the chips it saw when no label matches', () => {
    let caught: unknown;
    try {
      findGpioChip({ sysfsRoot: fakeSysfs(pi4), label: 'pinctrl-rp1' });
    } catch (error) {
      caught = error;
    }
    expect(isHalError(caught, 'GPIO_CHIP_NOT_FOUND')).toBe(true);
    expect(String(caught)).toContain('gpiochip512 "pinctrl-bcm2711" base 512');
  });

  it('fails with GPIO_UNAVAILABLE when there is no sysfs GPIO at all', () => {
    expect(() => listSysfsGpioChips('/nonexistent/sys/class/gpio')).toThrow(expect.objectContaining({ code: 'GPIO_UNAVAILABLE' }));
  });

  it('refuses a line past the end of the chip with GPIO_LINE_OUT_OF_RANGE', () => {
    const chip = findGpioChip({ sysfsRoot: fakeSysfs(pi4), label: 'raspberrypi-exp-gpio' });
    expect(() => sysfsNumberOf(chip, 8)).toThrow(expect.objectContaining({ code: 'GPIO_LINE_OUT_OF_RANGE' }));
  });

  it("gives the real driver's pin factory the sysfs numbers, so a pulse drives line 529, not 17", async () => {
    const sysfs = new InMemoryGpio();
    const gpio = await createBoardGpioFactory(realConfig(fakeSysfs(pi4)), { sysfs });
    const clock = new FakeClock();
    const bank = new GpioRelayBank({ relays: new Map([['A01', 17]]), activeLow: false, maxPulseMs: 500, clock, gpio });
    const pulse = bank.pulse('A01', 100);
    expect(sysfs.isActive(529)).toBe(true);
    expect(sysfs.isExported(17)).toBe(false);
    clock.advance(100);
    await pulse;
    expect(sysfs.isActive(529)).toBe(false);
    await bank.close();
  });

  it('fails at start, before any pin is exported, when a configured line is not on the chip', async () => {
    const sysfs = new InMemoryGpio();
    const config = realConfig(fakeSysfs(pi4), { label: 'raspberrypi-exp-gpio' });
    await expect(createBoardGpioFactory(config, { sysfs })).rejects.toSatisfy((e) => isHalError(e, 'GPIO_LINE_OUT_OF_RANGE'));
  });
});
