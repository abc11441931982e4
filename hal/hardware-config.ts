import { z } from 'zod';
import { HalError } from './hal-error.js';

// The hardware section of a device config. One schema, the type inferred from it.

const unique = (values: readonly unknown[]): boolean => new Set(values).size === values.length;

const compartmentId = z.string().min(1).max(16).regex(/^[A-Za-z0-9_-]+$/);
const pulseLimit = z.number().int().min(1).max(10_000);
const debounce = z.number().int().min(0).max(5_000);

const behaviourSchema = z
  .object({
    autoOpenOnPulse: z.boolean().optional(),
    autoCloseAfterMs: z.number().int().min(0).optional(),
  })
  .strict();

const serialPortSchema = z
  .object({
    path: z.string().min(1),
    baudRate: z.number().int().positive().default(9600),
  })
  .strict();

const scannerPortSchema = serialPortSchema.extend({ maxLength: z.number().int().min(1).max(65_536).default(2048) });

export const simulatedHardwareConfigSchema = z
  .object({
    kind: z.literal('simulated'),
    compartments: z
      .array(z.object({ id: compartmentId, behaviour: behaviourSchema.optional() }).strict())
      .min(1),
    maxPulseMs: pulseLimit.default(2000),
    debounceMs: debounce.default(50),
    /** Solenoid pull-in time of the simulated latches. */
    pulseMs: z.number().int().min(0).max(10_000).default(0),
    scannerMaxLength: z.number().int().min(1).max(65_536).default(2048),
    /**
     * Bench mode: read keys from a real serial keypad (or a socat PTY) through the real
     * driver instead of the simulated keypad, so a technician can try a keypad on the
     * bench and a test can type into a separately running device. The simulated keypad
     * in the control object then no longer reaches the runtime.
     */
    keypad: serialPortSchema.optional(),
    /** Bench mode for the scanner, as for the keypad; its maxLength replaces scannerMaxLength. */
    scanner: scannerPortSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (!unique(config.compartments.map((c) => c.id))) {
      ctx.addIssue({ code: 'custom', message: 'compartment ids must be unique', path: ['compartments'] });
    }
  });

/** A line offset on the GPIO chip (the BCM number on a Raspberry Pi), not a sysfs number. */
const gpioPin = z.number().int().min(0).max(1023);

/**
 * Labels of the Raspberry Pi's main GPIO chip, tried in this order when the config names
 * none: Pi 5 (RP1), Pi 4, Pi 3 and older.
 */
export const RASPBERRY_PI_GPIO_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

/**
 * Which sysfs GPIO chip the pins are lines of. Kernels number sysfs GPIOs from the chip's
 * base (512 or 571 on current Raspberry Pi OS, 0 on old ones), so a pin is mapped to
 * base + offset at start, read from /sys/class/gpio/gpiochipN/{base,label,ngpio}.
 */
const gpioChipSchema = z
  .object({
    /** The chip's label in sysfs; absent = the first Raspberry Pi label found. */
    label: z.string().min(1).max(64).optional(),
    sysfsRoot: z.string().min(1).default('/sys/class/gpio'),
  })
  .strict();

export const realHardwareConfigSchema = z
  .object({
    kind: z.literal('real'),
    compartments: z
      .array(z.object({ id: compartmentId, relayPin: gpioPin, doorPin: gpioPin }).strict())
      .min(1),
    gpioChip: gpioChipSchema.default({ sysfsRoot: '/sys/class/gpio' }),
    /** Relay boards are commonly driven low-active. */
    relayActiveLow: z.boolean().default(false),
    /** Door input: after inversion, 1 means the door is open. */
    doorActiveLow: z.boolean().default(false),
    maxPulseMs: pulseLimit.default(2000),
    debounceMs: debounce.default(50),
    /** onoff's own edge debounce, a first filter below ours. */
    gpioDebounceMs: debounce.default(10),
    keypad: serialPortSchema,
    scanner: scannerPortSchema,
    display: serialPortSchema.extend({ maxTextLength: z.number().int().min(8).max(512).default(64) }),
    /** Reconnect backoff for the serial ports. */
    reconnect: z
      .object({ initialMs: z.number().int().min(10).default(500), maxMs: z.number().int().min(10).default(30_000) })
      .strict()
      .default({ initialMs: 500, maxMs: 30_000 }),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (!unique(config.compartments.map((c) => c.id))) {
      ctx.addIssue({ code: 'custom', message: 'compartment ids must be unique', path: ['compartments'] });
    }
    if (!unique(config.compartments.flatMap((c) => [c.relayPin, c.doorPin]))) {
      ctx.addIssue({ code: 'custom', message: 'a GPIO pin is used twice', path: ['compartments'] });
    }
  });

export const hardwareConfigSchema = z.discriminatedUnion('kind', [
  simulatedHardwareConfigSchema,
  realHardwareConfigSchema,
]);

export type HardwareConfig = z.infer<typeof hardwareConfigSchema>;
export type HardwareConfigInput = z.input<typeof hardwareConfigSchema>;
export type SimulatedHardwareConfig = z.infer<typeof simulatedHardwareConfigSchema>;
export type RealHardwareConfig = z.infer<typeof realHardwareConfigSchema>;
export type GpioChipConfig = z.infer<typeof gpioChipSchema>;

/** Validates untrusted config; throws HalError CONFIG_INVALID with every issue listed. */
export function parseHardwareConfig(input: unknown): HardwareConfig {
  const result = hardwareConfigSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new HalError('CONFIG_INVALID', `invalid hardware config: ${issues.join('; ')}`, {
      cause: result.error,
    });
  }
  return result.data;
}
