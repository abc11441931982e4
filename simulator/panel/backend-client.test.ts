import { apiKeyDigest } from '@locker/backend/auth/api-key-auth.js';
import { lockerInput, makeBackend, type BackendFixture } from '@locker/backend/testing/backend-fixture.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBackendClient } from './backend-client.js';
import { PanelBackendError } from './panel-port.js';

// The panel's backend client against the real backend (backend-sync on a SQLite file in a
// temp dir) over HTTP on loopback, with a real API key: the calls a shop, a carrier and a
// courier app make, and what the customer's inbox received.

const KEY = 'lk_panel-test-key-0123456789abcdef';
const LOCKER = 'lk-panel';

describe('panel backend client', () => {
  let f: BackendFixture;
  let url: string;

  beforeEach(async () => {
    f = await makeBackend({ config: { auth: { apiKeys: [{ id: 'panel', roles: ['merchant', 'carrier', 'admin'], sha256: apiKeyDigest(KEY) }] } } });
    await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { S: 1, M: 2 }));
    url = await (await f.app()).listen({ host: '127.0.0.1', port: 0 });
  });
  afterEach(() => f.close());

  it('places an order with a locker reservation and ships it into the reserved compartment', async () => {
    const client = createBackendClient({ url, apiKey: KEY, inbox: f.inbox });
    const placed = await client.placeOrder({ lockerId: LOCKER, size: 'M', customerName: 'Ada' });
    expect(placed.compartmentId).toMatch(/^M[12]$/);
    expect(placed.order.customerName).toBe('Ada');
    expect(placed.order.shipments).toEqual([expect.objectContaining({ id: placed.shipmentId, lockerId: LOCKER, compartmentId: placed.compartmentId, size: 'M' })]);
    const stored = await f.store.shipments.get(placed.shipmentId);
    expect(stored?.compartmentId).toBe(placed.compartmentId);

    const timeline = await client.timeline(placed.order.id);
    expect(timeline.map((t) => `${t.entity}:${t.to}`)).toEqual(expect.arrayContaining(['order:payment_confirmed', 'order:processing']));
    expect(timeline.some((t) => t.entity === 'shipment' && t.entityId === placed.shipmentId)).toBe(true);
  });

  it('shows the code and the QR token the customer received once the parcel is deposited', async () => {
    const client = createBackendClient({ url, apiKey: KEY, inbox: f.inbox });
    const placed = await client.placeOrder({ lockerId: LOCKER, size: 'S', customerName: 'Ada' });
    await f.services.outbox.drain();
    expect((await client.notifications(placed.order.id)).some((n) => n.code !== undefined)).toBe(false);

    f.clock.advance(1);
    await f.services.parcels.deposited(placed.shipmentId, LOCKER, undefined, f.clock.now(), { actor: 'locker' });
    await f.services.outbox.drain();
    const ready = (await client.notifications(placed.order.id)).find((n) => n.kind === 'parcel.ready_for_pickup');
    expect(ready).toMatchObject({ orderId: placed.order.id, shipmentId: placed.shipmentId });
    expect(ready?.code).toMatch(/^\d{8}$/);
    expect(ready?.qrToken).toMatch(/^v4\.public\./);
    expect((await client.order(placed.order.id)).shipments[0]?.state).toBe('delivered');
  });

  it('issues a courier credential bound to the locker', async () => {
    const client = createBackendClient({ url, apiKey: KEY });
    const credential = await client.courierCredential(LOCKER);
    expect(credential.token).toMatch(/^v4\.public\./);
    expect(credential.expiresAt).toBeGreaterThan(f.clock.now());
  });

  it("passes the backend's refusal on with its status and code: a wrong key, an unknown order, a full locker", async () => {
    const wrongKey = createBackendClient({ url, apiKey: 'lk_not-the-key' });
    await expect(wrongKey.order('ord_nothing')).rejects.toMatchObject({ status: 401 });
    await expect(wrongKey.order('ord_nothing')).rejects.toThrow(/UNAUTHENTICATED/);
    const client = createBackendClient({ url, apiKey: KEY });
    await expect(client.order('ord_nothing')).rejects.toMatchObject({ status: 404 });
    await client.placeOrder({ lockerId: LOCKER, size: 'S', customerName: 'Ada' });
    const full = client.placeOrder({ lockerId: LOCKER, size: 'S', customerName: 'Bob' });
    await expect(full).rejects.toBeInstanceOf(PanelBackendError);
    await expect(full).rejects.toMatchObject({ status: 409 });
  });

  it('reports an unreachable backend as 502 rather than hanging', async () => {
    await f.close();
    const client = createBackendClient({ url, apiKey: KEY, timeoutMs: 2_000 });
    await expect(client.order('ord_x')).rejects.toMatchObject({ status: 502 });
    await expect(client.order('ord_x')).rejects.toThrow(/unreachable/);
    f = await makeBackend();
  });
});
