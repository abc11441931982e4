import { z } from 'zod';
import { hardwareConfigSchema } from '@locker/hal/hardware-config.js';
import { LockerId } from '@locker/contract/tokens/claims.js';

// What an operator writes once per new locker (locker.json): the registration the backend
// keeps (POST /lockers body, validated in full by the backend) and the board's wiring.

export const ProvisionInput = z
  .object({
    /** The body of POST /lockers: id, name, location, address, openingHours, compartments. */
    registration: z.looseObject({
      id: LockerId,
      compartments: z.array(z.looseObject({ id: z.string(), size: z.enum(['S', 'M', 'L', 'XL']) })).min(1),
    }),
    /** The board's hardware section of the device config (GPIO pins, serial ports). */
    hardware: hardwareConfigSchema,
    /** Optional device settings copied into the config as they are (codeLength, timeouts, lockout…). */
    device: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type ProvisionInput = z.infer<typeof ProvisionInput>;

/** The part of the POST /lockers response the bundle needs. */
export const RegistrationResponse = z.object({
  provisioning: z.object({
    lockerId: LockerId,
    codePepper: z.string().min(16),
    keyring: z.array(z.object({ op: z.string(), kid: z.string(), publicKey: z.string().optional(), notAfter: z.number().int().optional() })),
  }),
});
