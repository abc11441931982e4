import { z } from 'zod';
import type { FleetApiClient } from './fleet-api-client.js';
import type { NoticeBook } from './notice-book.js';
import type { OpOutcome } from './worker-pool.js';

// One parcel's life, as the fleet drives it: the merchant holds a compartment and places
// the order, pays and ships it to the locker (backend API); the courier deposits it (device
// side: credential QR, parcel barcode, door); the customer receives the code and types it
// on the keypad (device side); then the backend must show the shipment collected. Each
// stage reached is recorded, so the summary knows which notifications were owed.

export type ParcelStage = 'started' | 'ordered' | 'shipped' | 'deposited' | 'collected';

export interface ParcelRecord {
  tag: string;
  lockerId: string;
  orderId?: string;
  shipmentId?: string;
  stage: ParcelStage;
  /** The customer comes for it (the mix: some parcels stay in the locker). */
  pickup: boolean;
  error?: string;
}

/** The device side, as the worker pool offers it. */
export interface DeviceSide {
  deposit(lockerId: string, credential: string, shipmentId: string, compartmentId: string): Promise<OpOutcome>;
  pickup(lockerId: string, code: string, compartmentId: string): Promise<OpOutcome>;
}

export interface FlowHooks {
  opDone(kind: 'deposit' | 'pickup', outcome: OpOutcome): void;
}

const WithId = z.object({ id: z.string() });
const OrderView = z.object({
  id: z.string(),
  state: z.string(),
  shipments: z.array(z.object({ id: z.string(), state: z.string(), compartmentId: z.string().optional() })),
});
const ShipmentView = z.object({ id: z.string(), state: z.string() });
const Credential = z.object({ token: z.string() });
const Anything = z.unknown();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ParcelFlowDeps {
  api: FleetApiClient;
  device: DeviceSide;
  notices: NoticeBook;
  hooks: FlowHooks;
  /** How long to wait for a notification or a backend effect before calling it failed. */
  effectTimeoutMs: number;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>, pollMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

export async function runParcel(d: ParcelFlowDeps, p: ParcelRecord, size: 'S' | 'M' | 'L' | 'XL'): Promise<void> {
  const deposited = await shipAndDeposit(d, p, size);
  if (p.pickup) await collect(d, p, deposited);
}

export interface DepositedParcel {
  shipmentId: string;
  compartmentId: string;
  code: string;
}

/** Order to deposit: ends when the customer has the pickup code (the backend saw the deposit). */
export async function shipAndDeposit(d: ParcelFlowDeps, p: ParcelRecord, size: 'S' | 'M' | 'L' | 'XL'): Promise<DepositedParcel> {
  const { api } = d;
  const hold = await api.call('POST', '/reservations', WithId, { body: { orderRef: `cart-${p.tag}`, lockerId: p.lockerId, size }, idempotencyKey: `res-${p.tag}` });
  const order = await api.call('POST', '/orders', WithId, {
    body: {
      orderRef: `cart-${p.tag}`,
      customer: { name: 'Fleet Customer', email: `customer+${p.tag}@example.com` },
      currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'parcel', quantity: 1, unitPriceCents: 1000, size }],
      reservationIds: [hold.id],
    },
    idempotencyKey: `ord-${p.tag}`,
  });
  p.orderId = order.id;
  await api.call('POST', `/orders/${order.id}/payment-confirmation`, Anything);
  p.stage = 'ordered';
  await api.call('POST', `/orders/${order.id}/processing`, Anything);
  await api.call('POST', `/orders/${order.id}/shipments`, Anything, {
    body: { lineIds: ['l1'], carrier: 'fleet', trackingNumber: `TRK-${p.tag}`, delivery: { reservationId: hold.id } },
  });
  const view = await api.call('GET', `/orders/${order.id}`, OrderView);
  const shipment = view.shipments[0];
  if (shipment?.compartmentId === undefined) throw new Error(`order ${order.id} has no shipment to a compartment`);
  p.shipmentId = shipment.id;
  p.stage = 'shipped';

  const credential = await api.call('POST', `/lockers/${p.lockerId}/courier-credentials`, Credential, { body: { courierId: 'fleet-courier' } });
  const deposited = await d.device.deposit(p.lockerId, credential.token, shipment.id, shipment.compartmentId);
  d.hooks.opDone('deposit', deposited);
  if (!deposited.ok) throw new Error(deposited.error ?? 'deposit failed');
  // The backend learns of the deposit from the locker's audit upload and tells the customer.
  const code = await waitFor(`the pickup code of ${shipment.id}`, d.effectTimeoutMs, () => d.notices.codeFor(shipment.id));
  p.stage = 'deposited';
  return { shipmentId: shipment.id, compartmentId: shipment.compartmentId, code };
}

/** The customer types the code; ends when the backend shows the shipment collected. */
export async function collect(d: ParcelFlowDeps, p: ParcelRecord, parcel: DepositedParcel): Promise<void> {
  const { api } = d;
  const shipment = { id: parcel.shipmentId, compartmentId: parcel.compartmentId };
  const code = parcel.code;
  const picked = await d.device.pickup(p.lockerId, code, shipment.compartmentId);
  d.hooks.opDone('pickup', picked);
  if (!picked.ok) throw new Error(picked.error ?? 'pickup failed');
  await waitFor(`shipment ${shipment.id} collected at the backend`, d.effectTimeoutMs, async () => {
    const s = await api.call('GET', `/shipments/${shipment.id}`, ShipmentView);
    return s.state === 'collected' ? true : undefined;
  }, 100);
  p.stage = 'collected';
}

/** Notifications each parcel is owed by the stage it reached. */
export function expectedNotices(p: ParcelRecord): Array<{ kind: string; id: string }> {
  const out: Array<{ kind: string; id: string }> = [];
  const reached = (s: ParcelStage): boolean => order.indexOf(p.stage) >= order.indexOf(s);
  if (p.orderId !== undefined && reached('ordered')) out.push({ kind: 'order.placed', id: p.orderId }, { kind: 'order.payment_confirmed', id: p.orderId });
  if (p.shipmentId !== undefined && reached('deposited')) out.push({ kind: 'parcel.ready_for_pickup', id: p.shipmentId });
  if (p.shipmentId !== undefined && reached('collected')) out.push({ kind: 'parcel.collected', id: p.shipmentId });
  return out;
}

const order: readonly ParcelStage[] = ['started', 'ordered', 'shipped', 'deposited', 'collected'];
