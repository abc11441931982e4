import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { OrderSummary} from './panel-port.js';
import {
  CourierCredential, CustomerNotification, PanelBackendError, ShipmentSummary, TimelineEntry,
  type PanelBackend, type PlaceOrderInput, type PlacedOrder,
} from './panel-port.js';

// The panel's backend side over the backend's own HTTP API (docs/backend.md), with the
// session's API key, as a shop, a carrier and a courier app would call it. Every answer is
// checked with zod before it reaches the page. The API has no route that returns what was
// sent to a customer (by design: codes leave the backend only through a channel), so the
// customer's inbox comes from the notification channel the simulator's backend keeps
// (embedded-backend.ts: `inbox`, a LogChannel that keeps what it sent).

/** What a notification channel that keeps its messages exposes (LogChannel matches). */
export interface NotificationInbox {
  readonly sent: readonly { id: string; kind: string; payload: Record<string, unknown>; createdAt: number }[];
}

export interface BackendClientOptions {
  url: string;
  apiKey: string;
  /** The customer's side; without it notifications() answers an empty list. */
  inbox?: NotificationInbox;
  /** Deadline of each HTTP call. */
  timeoutMs?: number;
}

const ShipmentWire = ShipmentSummary.extend({ orderId: z.string(), lineIds: z.array(z.string()) }).loose();
const OrderWire = z.object({ id: z.string(), state: z.string(), customer: z.object({ name: z.string() }).loose(), shipments: z.array(ShipmentWire) }).loose();
const ReservationWire = z.object({ id: z.string(), compartmentId: z.string(), status: z.string() }).loose();
const ErrorWire = z.object({ error: z.object({ code: z.string(), message: z.string() }).loose() }).loose();

function summary(order: z.infer<typeof OrderWire>): OrderSummary {
  return {
    id: order.id,
    state: order.state,
    customerName: order.customer.name,
    shipments: order.shipments.map((s) => ShipmentSummary.parse(s)),
  };
}

export function createBackendClient(options: BackendClientOptions): PanelBackend {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function call<T>(schema: z.ZodType<T>, method: 'GET' | 'POST', path: string, body?: object, idempotencyKey?: string): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method, headers, signal: AbortSignal.timeout(timeoutMs), ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new PanelBackendError(`backend ${method} ${path} unreachable: ${err instanceof Error ? err.message : String(err)}`, 502);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new PanelBackendError(`backend ${method} ${path}: HTTP ${String(res.status)}, not JSON`, 502);
    }
    if (!res.ok) {
      const error = ErrorWire.safeParse(json);
      const why = error.success ? `${error.data.error.code}: ${error.data.error.message}` : text.slice(0, 200);
      // The backend's own 4xx (a full locker, an unknown order) is the technician's to read.
      throw new PanelBackendError(`backend ${method} ${path}: ${why}`, res.status >= 500 ? 502 : res.status);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new PanelBackendError(`backend ${method} ${path}: unexpected answer (${parsed.error.issues[0]?.message ?? 'invalid'})`, 502);
    return parsed.data;
  }

  const orderPath = (orderId: string): string => `/orders/${encodeURIComponent(orderId)}`;

  return {
    url: base,
    async placeOrder(input: PlaceOrderInput): Promise<PlacedOrder> {
      const tag = randomBytes(4).toString('hex');
      const orderRef = `panel-${tag}`;
      const hold = await call(ReservationWire, 'POST', '/reservations', { orderRef, lockerId: input.lockerId, size: input.size }, `res-${tag}`);
      const placed = await call(OrderWire, 'POST', '/orders', {
        orderRef, customer: { name: input.customerName, email: 'customer@example.com' }, currency: 'EUR',
        lines: [{ lineId: 'l1', sku: 'parcel', quantity: 1, unitPriceCents: 1_000, size: input.size }], reservationIds: [hold.id],
      }, `ord-${tag}`);
      await call(z.unknown(), 'POST', `${orderPath(placed.id)}/payment-confirmation`);
      await call(z.unknown(), 'POST', `${orderPath(placed.id)}/processing`);
      const shipment = await call(ShipmentWire, 'POST', `${orderPath(placed.id)}/shipments`, {
        lineIds: ['l1'], carrier: 'sim-post', trackingNumber: `PNL${tag.toUpperCase()}`, delivery: { reservationId: hold.id },
      });
      const order = summary(await call(OrderWire, 'GET', orderPath(placed.id)));
      return { order, shipmentId: shipment.id, compartmentId: shipment.compartmentId ?? hold.compartmentId };
    },
    async order(orderId: string): Promise<OrderSummary> {
      return summary(await call(OrderWire, 'GET', orderPath(orderId)));
    },
    timeline(orderId: string): Promise<TimelineEntry[]> {
      return call(z.array(TimelineEntry), 'GET', `${orderPath(orderId)}/history`);
    },
    async notifications(orderId: string): Promise<CustomerNotification[]> {
      const order = await call(OrderWire, 'GET', orderPath(orderId));
      const shipmentIds = new Set(order.shipments.map((s) => s.id));
      return (options.inbox?.sent ?? [])
        .filter((n) => n.payload['orderId'] === orderId || shipmentIds.has(String(n.payload['shipmentId'])))
        .map((n) => notificationOf(n));
    },
    courierCredential(lockerId: string): Promise<CourierCredential> {
      return call(CourierCredential.loose(), 'POST', `/lockers/${encodeURIComponent(lockerId)}/courier-credentials`, { courierId: 'courier-panel' });
    },
  };
}

function notificationOf(n: NotificationInbox['sent'][number]): CustomerNotification {
  const text = (key: string): string | undefined => (typeof n.payload[key] === 'string' ? n.payload[key] : undefined);
  const fields = { orderId: text('orderId'), shipmentId: text('shipmentId'), code: text('code'), qrToken: text('token') };
  return CustomerNotification.parse({
    id: n.id, kind: n.kind, at: n.createdAt,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  });
}
