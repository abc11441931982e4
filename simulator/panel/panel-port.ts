import { z } from 'zod';
import { CompartmentStatus, DisplayMessage, DoorState, SimFaultName, type PanelEvent } from './panel-events.js';
import { UnknownLockerError } from '../unknown-locker-error.js';

// Everything the technician's panel needs of a running simulator, and nothing more. The
// panel server depends on this port only; the simulator session (sim-session.ts) is
// adapted onto it one-to-one by session-panel-port.ts (docs/operations.md, "Technician panel"):
//
//   lockers()          ← session.lockers().map(lockerViewOf)
//   subscribe(l, id?)  ← session.subscribe(e => l({ ...e, words: session.describe(e) }), id)
//   history(id?)       ← session.history(id) (every locker's, by time, when no id)
//   run(id, line)      ← session.run(id, line)  (console command language, printed lines back)
//   backend            ← createBackendClient({ ...session.backend(), inbox: session.customerInbox() })
//
// testing/fake-panel-port.ts is an in-memory locker and backend behind the same port.

export const CompartmentSize = z.enum(['S', 'M', 'L', 'XL']);
export type CompartmentSize = z.infer<typeof CompartmentSize>;

export const CompartmentView = z.object({
  id: z.string().min(1).max(32),
  size: CompartmentSize,
  door: DoorState,
  /** The relay is energised right now (the latch coil is pulled). */
  relay: z.boolean(),
  status: CompartmentStatus,
  parcelId: z.string().optional(),
  outOfServiceReason: z.string().optional(),
  /** Faults the technician injected into the simulated hardware. */
  faults: z.array(SimFaultName),
});
export type CompartmentView = z.infer<typeof CompartmentView>;

export const LockerView = z.object({
  id: z.string().min(1).max(64),
  name: z.string().max(200),
  location: z.string().max(200),
  /** false while the power is cut (the device process is dead). */
  powered: z.boolean(),
  /** undefined: an offline locker (no broker). */
  online: z.boolean().optional(),
  /** undefined: an offline locker (no cable to pull). */
  networkUp: z.boolean().optional(),
  codeSetVersion: z.number().int().nonnegative(),
  /** Audit records written but not yet acknowledged by the backend. */
  outboxBacklog: z.number().int().nonnegative(),
  lockout: z.object({ active: z.boolean(), until: z.number().optional(), failures: z.number().int().nonnegative() }),
  /** What the locker's display shows now (undefined before the first message). */
  display: DisplayMessage.optional(),
  /** The device's wall clock, epoch ms. */
  clock: z.number(),
  compartments: z.array(CompartmentView),
});
export type LockerView = z.infer<typeof LockerView>;

/**
 * A locker's view as the event stream carries it (`event: locker`): the port's view and the
 * panel's count of the locker's alarms, so a page shows the count from the server's state
 * rather than from the events it happened to receive (it misses some across a gap).
 */
export const StreamedLockerView = LockerView.extend({
  /** Alarm-level events of the locker (words.level 'alarm') since the panel started, its history at start included. */
  alarms: z.number().int().nonnegative(),
});
export type StreamedLockerView = z.infer<typeof StreamedLockerView>;

// --- the backend side --------------------------------------------------------------------

export const PlaceOrderInput = z
  .object({
    lockerId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a locker id'),
    size: CompartmentSize,
    customerName: z.string().trim().min(1).max(100).default('Ada Panel'),
  })
  .strict();
export type PlaceOrderInput = z.infer<typeof PlaceOrderInput>;

export const ShipmentSummary = z.object({
  id: z.string(),
  state: z.string(),
  carrier: z.string(),
  trackingNumber: z.string(),
  lockerId: z.string().optional(),
  compartmentId: z.string().optional(),
  size: CompartmentSize.optional(),
  pickupDeadline: z.number().optional(),
});
export type ShipmentSummary = z.infer<typeof ShipmentSummary>;

export const OrderSummary = z.object({ id: z.string(), state: z.string(), customerName: z.string(), shipments: z.array(ShipmentSummary) });
export type OrderSummary = z.infer<typeof OrderSummary>;

/** What placing an order produced: the order, its one shipment; the parcel barcode is the shipment id. */
export const PlacedOrder = z.object({ order: OrderSummary, shipmentId: z.string(), compartmentId: z.string() });
export type PlacedOrder = z.infer<typeof PlacedOrder>;

export const TimelineEntry = z.object({
  entity: z.string(),
  entityId: z.string(),
  from: z.string().optional(),
  to: z.string(),
  event: z.string(),
  actor: z.string(),
  reason: z.string().optional(),
  at: z.number(),
});
export type TimelineEntry = z.infer<typeof TimelineEntry>;

/** A notification the backend sent the customer; `code` and `qrToken` as the customer received them. */
export const CustomerNotification = z.object({
  id: z.string(),
  kind: z.string(),
  at: z.number(),
  orderId: z.string().optional(),
  shipmentId: z.string().optional(),
  code: z.string().optional(),
  qrToken: z.string().optional(),
});
export type CustomerNotification = z.infer<typeof CustomerNotification>;

export const CourierCredential = z.object({ token: z.string().min(1), expiresAt: z.number() });
export type CourierCredential = z.infer<typeof CourierCredential>;

/** The backend as a shop, a carrier and a customer's inbox see it. */
export interface PanelBackend {
  /** Base URL of the backend's HTTP API (shown on the page). */
  readonly url: string;
  /** Reservation at the locker, order, payment, processing, shipment into the reserved compartment. */
  placeOrder(input: PlaceOrderInput): Promise<PlacedOrder>;
  order(orderId: string): Promise<OrderSummary>;
  /** The order's and its shipments' state log, oldest first. */
  timeline(orderId: string): Promise<TimelineEntry[]>;
  /** What the customer of the order received, oldest first, codes included. */
  notifications(orderId: string): Promise<CustomerNotification[]>;
  /** A courier credential (QR token) for this locker, as a courier app would hold it. */
  courierCredential(lockerId: string): Promise<CourierCredential>;
}

export type Unsubscribe = () => void;

export interface PanelPort {
  lockers(): Promise<LockerView[]>;
  /** Every event of one locker (or of all), as it happens. A listener's exception never reaches the locker. */
  subscribe(listener: (event: PanelEvent) => void, lockerId?: string): Unsubscribe;
  /** Events that happened before now (bounded), oldest first. */
  history(lockerId?: string): readonly PanelEvent[];
  /**
   * Runs one console command line on a locker and returns the lines it printed. A bad line
   * is answered with its error line, never thrown; an unknown locker rejects with
   * UnknownLockerError.
   */
  run(lockerId: string, commandLine: string): Promise<string[]>;
  /** undefined when the session has no backend (offline lockers). */
  readonly backend: PanelBackend | undefined;
}

export { UnknownLockerError };

/** A backend call that failed: the HTTP status the backend answered (or 502 unreachable) and why. */
export class PanelBackendError extends Error {
  override readonly name = 'PanelBackendError';
  readonly code = 'BACKEND_CALL_FAILED';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
