import { randomBytes } from 'node:crypto';
import { readCodePepper } from '@locker/device/config.js';
import { unusedCode } from './demo-issuer.js';
import type { CustomerNotice, DemoParcelSource, PreparedParcel } from './demo-scenario.js';
import type { EmbeddedBackend } from './embedded-backend.js';
import type { LockerSim } from './locker-sim.js';
import { DemoStepError, waitUntil } from './wait-for.js';

// The demo's parcel as a shop and a courier company would produce it: through the
// backend's HTTP API (reservation, order, payment, shipment, courier credential). The
// backend issues the tokens, keeps the locker's code set and publishes the batch over MQTT
// to the locker's sync agent; after the deposit it notifies the customer with the code.

interface Json {
  [key: string]: unknown;
}

async function call(backend: EmbeddedBackend, method: 'GET' | 'POST', path: string, body?: object, idempotencyKey?: string): Promise<Json> {
  const headers: Record<string, string> = { authorization: `Bearer ${backend.apiKey}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  const res = await fetch(`${backend.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  if (!res.ok) throw new DemoStepError(`backend ${method} ${path}: HTTP ${String(res.status)} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Json;
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new DemoStepError(`backend response without ${what}`);
  return value;
}

export function backendParcelSource(backend: EmbeddedBackend, codeLength: number, timeoutMs = 10_000): DemoParcelSource {
  const orders = new Map<string, string>();
  return {
    description: `the backend (backend-sync) over HTTP ${backend.url}; code batch over MQTT to the locker's sync agent`,
    async prepare(sim: LockerSim, request, say): Promise<PreparedParcel> {
      const tag = randomBytes(4).toString('hex');
      const lockerId = sim.lockerId;
      const size = request.size;
      // A data dir from an earlier run: the backend last saw this locker when that run
      // stopped, and takes no parcel for a locker offline that long until its sync agent's
      // presence arrives (a few hundred ms after start).
      await waitUntil(async () => (await backend.services.store.lockers.gate(lockerId))?.offlineSince === null || undefined, 'the backend to see the locker online', timeoutMs);
      const hold = await call(backend, 'POST', '/reservations', { orderRef: `sim-${tag}`, lockerId, size }, `res-${tag}`);
      const order = await call(backend, 'POST', '/orders', {
        orderRef: `sim-${tag}`, customer: { name: 'Ada Demo', email: 'ada@example.com' }, currency: 'EUR',
        lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 2_000, size }], reservationIds: [str(hold['id'], 'reservation id')],
      }, `ord-${tag}`);
      const orderId = str(order['id'], 'order id');
      say(`checkout: compartment of size ${size} reserved, order ${orderId} placed`);
      await call(backend, 'POST', `/orders/${orderId}/payment-confirmation`);
      await call(backend, 'POST', `/orders/${orderId}/processing`);
      const shipment = await call(backend, 'POST', `/orders/${orderId}/shipments`, {
        lineIds: ['l1'], carrier: 'sim-post', trackingNumber: `SIM${tag.toUpperCase()}`, delivery: { reservationId: str(hold['id'], 'reservation id') },
      });
      const shipmentId = str(shipment['id'], 'shipment id');
      const compartmentId = str(shipment['compartmentId'], 'compartment');
      say(`payment confirmed, shipment ${shipmentId} created: the backend issued the pickup token and queued it for the locker`);
      const credential = await call(backend, 'POST', `/lockers/${lockerId}/courier-credentials`, { courierId: 'courier-demo' });
      say('courier credential issued for courier-demo (POST /lockers/:id/courier-credentials)');
      const entry = await waitUntil(() => sim.store.findEntriesByParcel(shipmentId)[0], 'the code batch to reach the locker over MQTT', timeoutMs);
      await waitUntil(async () => (await backend.services.store.codeSets.get(lockerId))?.ackedVersion === sim.store.codeSetState().version || undefined, 'the locker to ack the batch', timeoutMs);
      say(`code batch received by the sync agent, verified, applied and acked: version ${String(sim.store.codeSetState().version)}`);
      orders.set(shipmentId, orderId);
      const pepper = readCodePepper(sim.paths.codePepper);
      return {
        parcelId: entry.parcelId,
        compartmentId,
        pickupTokenId: entry.tokenId,
        courierCredential: str(credential['token'], 'courier token'),
        wrongCode: unusedCode(pepper, lockerId, codeLength, (digest) => sim.store.findEntryByCodeDigest(digest) !== undefined),
      };
    },
    async customerNotice(_sim, parcel, say): Promise<CustomerNotice> {
      // The deposit reaches the backend as an audit record; it marks the shipment delivered
      // and its outbox notifies the customer, code included.
      const sent = await waitUntil(
        () => backend.inbox.sent.find((n) => n.kind === 'parcel.ready_for_pickup' && n.payload['shipmentId'] === parcel.parcelId),
        'the backend to notify the customer',
        timeoutMs,
      );
      const code = sent.payload['code'];
      const qrToken = sent.payload['token'];
      if (typeof code !== 'string' || typeof qrToken !== 'string') throw new DemoStepError('the pickup notification carries no code or QR code');
      say('the backend saw the deposit in the uploaded audit log and notified the customer: "your parcel is ready, code … (or show this QR code)"');
      return { code, qrToken };
    },
    async returnCode(shipmentId): Promise<string> {
      const sent = await waitUntil(
        () => backend.inbox.sent.find((n) => n.kind === 'return.code_issued' && n.payload['shipmentId'] === shipmentId),
        'the backend to send the drop-off code',
        timeoutMs,
      );
      const code = sent.payload['code'];
      if (typeof code !== 'string') throw new DemoStepError('the return notification carries no code');
      return code;
    },
    async confirmCollected(_sim, parcel, say): Promise<void> {
      const orderId = orders.get(parcel.parcelId);
      if (orderId === undefined) return;
      await waitUntil(async () => (await call(backend, 'GET', `/orders/${orderId}`))['state'] === 'collected', `order ${orderId} to be collected`, timeoutMs);
      say(`backend: order ${orderId} is now 'collected'`);
    },
    async confirmAuditUpload(sim, seq, say): Promise<void> {
      await waitUntil(() => sim.store.auditAckedWatermark() >= seq, `the backend to acknowledge audit seq ${String(seq)}`, timeoutMs);
      const broken = await backend.services.store.audit.chainBrokenAt(sim.lockerId);
      say(`audit log uploaded over MQTT: the backend stored it up to seq ${String(sim.store.auditAckedWatermark())} and ${broken === undefined ? 'verified the hash chain' : `found the chain BROKEN at seq ${String(broken)}`}`);
    },
  };
}
