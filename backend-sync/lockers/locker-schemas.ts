import { z } from 'zod';
import { CompartmentId, CompartmentSize, DeviceHealthWire, LockerId } from '../shared/contract.js';

// The locker registry's shapes: API bodies and what the store returns are the same types,
// inferred from these schemas. (LockerId etc. come from the token claim schemas so an id
// the registry accepts is always one a token can be bound to.)

export { CompartmentSize, LockerId, CompartmentId };

export const LockerStatus = z.enum(['operating', 'offline', 'out_of_service']);
export type LockerStatus = z.infer<typeof LockerStatus>;

export const CompartmentState = z.enum(['free', 'held', 'reserved', 'occupied', 'out_of_service']);
export type CompartmentState = z.infer<typeof CompartmentState>;

export const Dimensions = z.object({ widthMm: z.number().int().positive(), heightMm: z.number().int().positive(), depthMm: z.number().int().positive() }).strict();
export type Dimensions = z.infer<typeof Dimensions>;

export const Address = z
  .object({ street: z.string().min(1).max(200), city: z.string().min(1).max(100), postalCode: z.string().min(1).max(20), country: z.string().length(2) })
  .strict();
export type Address = z.infer<typeof Address>;

const HhMm = z.string().regex(/^([01]\d|2[0-4]):[0-5]\d$/);
export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
/** Per weekday a list of open intervals; an absent day is closed. '00:00'-'24:00' is all day. */
export const OpeningHours = z.partialRecord(Weekday, z.array(z.object({ open: HhMm, close: HhMm }).strict()).max(4));
export type OpeningHours = z.infer<typeof OpeningHours>;

export const Location = z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) }).strict();

export const CompartmentInput = z.object({ id: CompartmentId, size: CompartmentSize, dimensions: Dimensions }).strict();
export type CompartmentInput = z.infer<typeof CompartmentInput>;

export const LockerInput = z
  .object({
    id: LockerId,
    name: z.string().min(1).max(100),
    location: Location,
    address: Address,
    openingHours: OpeningHours,
    status: LockerStatus.default('operating'),
    compartments: z.array(CompartmentInput).min(1).max(500),
  })
  .strict()
  .refine((l) => new Set(l.compartments.map((c) => c.id)).size === l.compartments.length, { message: 'compartment ids must be unique', path: ['compartments'] });
export type LockerInput = z.infer<typeof LockerInput>;

export const Compartment = z.object({
  id: CompartmentId,
  size: CompartmentSize,
  dimensions: Dimensions,
  state: CompartmentState,
});
export type Compartment = z.infer<typeof Compartment>;

export const Locker = z.object({
  id: LockerId,
  name: z.string(),
  location: Location,
  address: Address,
  openingHours: OpeningHours,
  status: LockerStatus,
  online: z.boolean(),
  offlineSince: z.number().int().optional(),
  createdAt: z.number().int(),
});
export type Locker = z.infer<typeof Locker>;

/** The latest health report a locker sent, and the fault episodes open as of it. */
export const LockerHealthView = z.object({
  bootId: z.string(),
  /** The locker's clock when it sent the report (informational). */
  sentAt: z.number(),
  receivedAt: z.number().int(),
  report: DeviceHealthWire,
  /** Compartment id → when its reported out-of-service episode began (backend time). */
  outOfServiceSince: z.record(z.string(), z.number().int()),
  lockoutSince: z.number().int().optional(),
  /** When the locker began reporting a database it cannot write (it opens no door meanwhile). */
  storageUnwritableSince: z.number().int().optional(),
  /** When the locker began reporting its storage reserve released: its card is nearly full, clean it before it fills. */
  storageReserveReleasedSince: z.number().int().optional(),
});
export type LockerHealthView = z.infer<typeof LockerHealthView>;

export const LockerDetail = Locker.extend({ compartments: z.array(Compartment), health: LockerHealthView.optional() });
export type LockerDetail = z.infer<typeof LockerDetail>;

export const SizeAvailability = z.object({ S: z.number().int(), M: z.number().int(), L: z.number().int(), XL: z.number().int() });
export type SizeAvailability = z.infer<typeof SizeAvailability>;

export const SearchQuery = z
  .object({
    lat: z.coerce.number().min(-90).max(90),
    lng: z.coerce.number().min(-180).max(180),
    radiusM: z.coerce.number().positive().max(50_000).default(2_000),
    size: CompartmentSize.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();
export type SearchQuery = z.infer<typeof SearchQuery>;

export const SearchHit = z.object({
  lockerId: LockerId,
  name: z.string(),
  location: Location,
  address: Address,
  distanceM: z.number(),
  available: SizeAvailability,
});
export type SearchHit = z.infer<typeof SearchHit>;

export const LockerListQuery = z
  .object({
    after: LockerId.optional(),
    status: LockerStatus.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
export type LockerListQuery = z.infer<typeof LockerListQuery>;
