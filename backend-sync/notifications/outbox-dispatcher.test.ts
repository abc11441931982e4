import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { ship } from '../testing/order-helpers.js';
import { WebhookChannel, webhookSignature } from './webhook-channel.js';

describe('notification outbox', () => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('sends each notification once and wipes the pickup code from the row after sending', async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    // Notifications go out in the order they fell due. Ids are random, so two falling due in
    // the same millisecond have no order between them: the steps here are a millisecond
    // apart, as the steps of a real order are (the clock is a manual one).
    const { body: placed } = await f.services.orders.place('ord-outbox', {
      orderRef: 'ref-outbox',
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'sku-l1', quantity: 1, unitPriceCents: 1000, size: 'M' }],
      reservationIds: [],
    });
    f.clock.advance(1);
    await f.services.orders.confirmPayment(placed.id, 'test');
    f.clock.advance(1);
    const o = await f.services.orders.startProcessing(placed.id, 'test');
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    f.clock.advance(1);
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.outbox.drain();
    await f.services.outbox.drain();
    const ready = f.inbox.sent.filter((n) => n.kind === 'parcel.ready_for_pickup');
    expect(ready).toHaveLength(1);
    expect(ready[0]?.payload['code']).toMatch(/^\d{8}$/);
    const stored = (await f.store.notifications.list({ kind: 'parcel.ready_for_pickup' }))[0];
    expect(stored?.state).toBe('sent');
    expect(stored?.payload['code']).toBe('[sent]');
    expect(ready[0]?.payload['token']).toMatch(/^v4\.public\./);
    expect(stored?.payload['token']).toBe('[sent]');
    expect(f.inbox.sent.map((n) => n.kind)).toEqual(['order.placed', 'order.payment_confirmed', 'parcel.ready_for_pickup']);
  });

  it('forgets sent notifications (the customer contact) 30 days after they were created, through the sweeper', async () => {
    const fx = await makeBackend();
    f = fx;
    await fx.services.orders.place('ord-retention', {
      orderRef: 'ref-retention',
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'sku-l1', quantity: 1, unitPriceCents: 1000, size: 'M' }],
      reservationIds: [],
    });
    await fx.services.sweeper.tick();
    expect((await fx.store.notifications.list()).map((n) => n.state)).toEqual(['sent']);
    fx.clock.advance(30 * 24 * 3_600_000);
    await fx.services.sweeper.tick();
    expect(await fx.store.notifications.list()).toHaveLength(1);
    fx.clock.advance(1);
    await fx.services.sweeper.tick();
    expect(await fx.store.notifications.list()).toEqual([]);
  });

  it('signs webhooks with HMAC and retries with growing backoff until the receiver accepts', async () => {
    const received: Array<{ body: string; signature: string }> = [];
    let failuresLeft = 2;
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (failuresLeft-- > 0) {
          res.writeHead(503).end();
          return;
        }
        received.push({ body, signature: String(req.headers['x-signature']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/hook`;
    const secret = 'a-very-secret-webhook-key';
    const fx = await makeBackend({ channels: [] });
    f = fx;
    try {
      const channel = new WebhookChannel(url, secret, () => fx.clock.now());
      const { OutboxDispatcher } = await import('./outbox-dispatcher.js');
      const outbox = new OutboxDispatcher({ store: fx.store, clock: fx.clock, logger: fx.services.logger, channels: [channel], maxAttempts: 5, baseBackoffMs: 1000 });
      await fx.store.notifications.enqueue({ id: 'ntf_1', dedupeKey: 'k1', kind: 'order.placed', recipient: { name: 'Ada', email: 'a@x.de' }, payload: { orderId: 'o1' }, state: 'pending', attempts: 0, nextAttemptAt: fx.clock.now(), createdAt: fx.clock.now() });
      await outbox.drain();
      expect((await fx.store.notifications.list())[0]).toMatchObject({ state: 'pending', attempts: 1, nextAttemptAt: fx.clock.now() + 1000 });
      await outbox.drain(); // not due yet
      expect((await fx.store.notifications.list())[0]?.attempts).toBe(1);
      fx.clock.advance(1000);
      await outbox.drain();
      expect((await fx.store.notifications.list())[0]).toMatchObject({ attempts: 2, nextAttemptAt: fx.clock.now() + 2000 });
      fx.clock.advance(2000);
      await outbox.drain();
      expect((await fx.store.notifications.list())[0]?.state).toBe('sent');
      expect(received).toHaveLength(1);
      const sig = received[0]!.signature;
      const t = Number(/t=(\d+)/.exec(sig)?.[1]);
      expect(sig).toBe(webhookSignature(secret, t, received[0]!.body));
    } finally {
      server.close();
    }
  });

  it('sends each notification once when two instances drain one outbox at the same time', async () => {
    const fx = await makeBackend({ channels: [] });
    f = fx;
    const { OutboxDispatcher } = await import('./outbox-dispatcher.js');
    const instance = (): { outbox: InstanceType<typeof OutboxDispatcher>; sent: string[] } => {
      const sent: string[] = [];
      const channel = {
        name: 'recording',
        send: (n: { id: string }): Promise<void> => {
          sent.push(n.id);
          return Promise.resolve();
        },
      };
      return { outbox: new OutboxDispatcher({ store: fx.store, clock: fx.clock, logger: fx.services.logger, channels: [channel], maxAttempts: 5, baseBackoffMs: 1000 }), sent };
    };
    for (let i = 0; i < 50; i++) {
      await fx.store.notifications.enqueue({ id: `ntf_${String(i)}`, dedupeKey: `k${String(i)}`, kind: 'order.placed', recipient: { name: 'Ada' }, payload: {}, state: 'pending', attempts: 0, nextAttemptAt: fx.clock.now(), createdAt: fx.clock.now() });
    }
    const a = instance();
    const b = instance();
    const [na, nb] = await Promise.all([a.outbox.drain(), b.outbox.drain()]);
    expect(na + nb).toBe(50);
    const all = [...a.sent, ...b.sent];
    expect(all).toHaveLength(50);
    expect(new Set(all).size).toBe(50);
    expect(await fx.store.notifications.backlog()).toBe(0);
  });

  it('leaves a notification taken by an instance that died alone until its lease lapses, then sends it', async () => {
    const fx = await makeBackend();
    f = fx;
    await fx.store.notifications.enqueue({ id: 'ntf_orphan', dedupeKey: 'orphan', kind: 'order.placed', recipient: { name: 'Ada' }, payload: {}, state: 'pending', attempts: 0, nextAttemptAt: fx.clock.now(), createdAt: fx.clock.now() });
    // Another instance claims it and dies before sending.
    expect(await fx.store.notifications.claimDue(fx.clock.now(), 120_000, 10)).toHaveLength(1);
    expect(await fx.services.outbox.drain()).toBe(0);
    fx.clock.advance(119_999);
    expect(await fx.services.outbox.drain()).toBe(0);
    fx.clock.advance(1);
    expect(await fx.services.outbox.drain()).toBe(1);
    expect(fx.inbox.sent.map((n) => n.id)).toEqual(['ntf_orphan']);
  });
});
