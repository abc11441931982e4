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
  return deposit(d, p, await ship(d, p, size));
}

export interface ShippedParcel {
  shipmentId: string;
  compartmentId: string;
}

/** The merchant's side: hold, order, pay, ship to the held compartment (its code goes to the locker). */
export async function ship(d: Pick<ParcelFlowDeps, 'api'>, p: ParcelRecord, size: 'S' | 'M' | 'L' | 'XL'): Promise<ShippedParcel> {
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
  return { shipmentId: shipment.id, compartmentId: shipment.compartmentId };
}

/** The courier's side: a credential from the backend, the deposit at the locker; ends when the customer has the code. */
export async function deposit(d: ParcelFlowDeps, p: ParcelRecord, shipment: ShippedParcel): Promise<DepositedParcel> {
  const { api } = d;
  const credential = await api.call('POST', `/lockers/${p.lockerId}/courier-credentials`, Credential, { body: { courierId: 'fleet-courier' } });
  const done = await d.device.deposit(p.lockerId, credential.token, shipment.shipmentId, shipment.compartmentId);
  d.hooks.opDone('deposit', done);
  if (!done.ok) throw new Error(done.error ?? 'deposit failed');
  // The backend learns of the deposit from the locker's audit upload and tells the customer.
  const code = await waitFor(`the pickup code of ${shipment.shipmentId}`, d.effectTimeoutMs, () => d.notices.codeFor(shipment.shipmentId));
  p.stage = 'deposited';
  return { ...shipment, code };
}

/** The customer types the code; ends when the backend shows the shipment collected (`confirm: false`: when the door closed again). */
export async function collect(d: ParcelFlowDeps, p: ParcelRecord, parcel: DepositedParcel, confirm = true): Promise<void> {
  const picked = await d.device.pickup(p.lockerId, parcel.code, parcel.compartmentId);
  d.hooks.opDone('pickup', picked);
  if (!picked.ok) throw new Error(picked.error ?? 'pickup failed');
  if (confirm) await confirmCollected(d, p, parcel.shipmentId);
}

/**
 * The effect at the backend: the locker's pickup audit made the shipment collected. Waits
 * for the customer's 'collected' notice (in memory), then reads the shipment once: polling
 * every parcel's shipment was a load of its own on a busy backend.
 */
export async function confirmCollected(d: Pick<ParcelFlowDeps, 'api' | 'notices' | 'effectTimeoutMs'>, p: ParcelRecord, shipmentId: string): Promise<void> {
  await waitFor(`the collected notice of ${shipmentId}`, d.effectTimeoutMs, () => (d.notices.has('parcel.collected', shipmentId) ? true : undefined));
  await waitFor(`shipment ${shipmentId} collected at the backend`, d.effectTimeoutMs, async () => {
    const s = await d.api.call('GET', `/shipments/${shipmentId}`, ShipmentView);
    return s.state === 'collected' ? true : undefined;
  }, 250);
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
