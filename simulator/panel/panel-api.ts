import type { Logger } from 'pino';
import { z } from 'zod';
import { actionIsSecret, commandLineOf, PanelAction } from './panel-actions.js';
import { SimFaultName } from './panel-events.js';
import {
  CustomerNotification, LockerView, OrderSummary, PanelBackendError, PlaceOrderInput, PlacedOrder, TimelineEntry, UnknownLockerError,
  type PanelPort,
} from './panel-port.js';
import { qrSvg } from './qr-svg.js';

// The panel's JSON endpoints, apart from HTTP plumbing (panel-server.ts): each takes the
// validated request, calls the port, and answers a value checked against its schema.
// Errors carry a status and a code the page shows as they are.

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const NotificationView = CustomerNotification.extend({ qrSvg: z.string().optional() });
export const OrderDetail = z.object({ order: OrderSummary, timeline: z.array(TimelineEntry), notifications: z.array(NotificationView) });
export const SessionInfo = z.object({
  lockers: z.array(z.object({ id: z.string(), name: z.string(), location: z.string() })),
  backendUrl: z.string().optional(),
  faults: z.array(SimFaultName),
});

const OrderId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an order id');
/** Orders placed from the panel, newest first: the API has no "list orders" route. */
const REMEMBERED_ORDERS = 50;

export class PanelApi {
  private readonly placed: string[] = [];

  constructor(
    private readonly port: PanelPort,
    private readonly log: Logger,
  ) {}

  async session(): Promise<z.infer<typeof SessionInfo>> {
    const lockers = await this.port.lockers();
    return SessionInfo.parse({
      lockers: lockers.map((l) => ({ id: l.id, name: l.name, location: l.location })),
      ...(this.port.backend === undefined ? {} : { backendUrl: this.port.backend.url }),
      faults: SimFaultName.options,
    });
  }

  async lockers(): Promise<LockerView[]> {
    return z.array(LockerView).parse(await this.port.lockers());
  }

  async act(lockerId: string, body: unknown): Promise<{ lines: string[] }> {
    const action = parseBody(PanelAction, body);
    const line = commandLineOf(action);
    try {
      const lines = await this.port.run(lockerId, line);
      // Keys and scans are secrets (codes, tokens): log that they happened, never what.
      this.log.info({ lockerId, action: action.action, ...(actionIsSecret(action) ? {} : { line }) }, 'panel.action');
      return { lines };
    } catch (err) {
      if (err instanceof UnknownLockerError) throw new ApiError(404, 'UNKNOWN_LOCKER', err.message);
      throw err;
    }
  }

  async courierCredential(lockerId: string): Promise<{ token: string; expiresAt: number }> {
    const credential = await this.backend((b) => b.courierCredential(lockerId));
    this.log.info({ lockerId }, 'panel.courier_credential_issued');
    return credential;
  }

  async placeOrder(body: unknown): Promise<PlacedOrder> {
    const input = parseBody(PlaceOrderInput, body);
    const placed = PlacedOrder.parse(await this.backend((b) => b.placeOrder(input)));
    this.placed.unshift(placed.order.id);
    this.placed.splice(REMEMBERED_ORDERS);
    this.log.info({ orderId: placed.order.id, shipmentId: placed.shipmentId, lockerId: input.lockerId }, 'panel.order_placed');
    return placed;
  }

  async orders(): Promise<OrderSummary[]> {
    const found: OrderSummary[] = [];
    for (const id of this.placed) found.push(OrderSummary.parse(await this.backend((b) => b.order(id))));
    return found;
  }

  async order(orderId: string): Promise<z.infer<typeof OrderDetail>> {
    const id = parseBody(OrderId, orderId);
    const order = await this.backend((b) => b.order(id));
    const timeline = await this.backend((b) => b.timeline(id));
    const notifications = await this.backend((b) => b.notifications(id));
    return OrderDetail.parse({ order, timeline, notifications: notifications.map((n) => this.withQr(n)) });
  }

  /** A token no QR code holds gets no picture (the page still puts it into the scanner): the order stays readable. */
  private withQr(n: CustomerNotification): z.infer<typeof NotificationView> {
    if (n.qrToken === undefined) return n;
    const svg = qrSvg(n.qrToken);
    if (svg === undefined) this.log.warn({ notificationId: n.id, tokenLength: n.qrToken.length }, 'panel.qr_too_long');
    return svg === undefined ? n : { ...n, qrSvg: svg };
  }

  private async backend<T>(call: (backend: NonNullable<PanelPort['backend']>) => Promise<T>): Promise<T> {
    const backend = this.port.backend;
    if (backend === undefined) throw new ApiError(409, 'NO_BACKEND', 'this session has no backend (offline lockers)');
    try {
      return await call(backend);
    } catch (err) {
      if (err instanceof PanelBackendError) throw new ApiError(err.status, err.code, err.message);
      throw err;
    }
  }
}

/** Parses a request value; a bad one is a 400 naming the field and the reason. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
  throw new ApiError(400, 'BAD_REQUEST', `${where}${issue?.message ?? 'invalid'}`);
}
