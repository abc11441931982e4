import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { BackendApi } from './sim-network.js';
import { DemoStepError, waitUntil } from './wait-for.js';

// The few backend API calls the console makes beyond the demo's checkout (backend-parcel-
// source.ts): a courier's retrieval token, a customer's return, a remote open. Each answer
// is validated; an HTTP error becomes a DemoStepError with the status and the body's start.
// A keyed POST is sent again with its Idempotency-Key after a network error (the answer may
// be lost after the backend committed): the backend replays the first answer, so a remote
// open is not sent twice.

/** Attempts of a keyed POST whose answer did not arrive. */
const KEYED_ATTEMPTS = 3;

async function call(api: BackendApi, method: 'GET' | 'POST', path: string, body?: object, idempotencyKey?: string): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${api.apiKey}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  const init = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  let res: Response | undefined;
  for (let attempt = 1; res === undefined; attempt++) {
    try {
      res = await fetch(`${api.url}${path}`, init);
    } catch (err) {
      if (idempotencyKey === undefined || attempt >= KEYED_ATTEMPTS) throw err;
    }
  }
  const text = await res.text();
  if (!res.ok) throw new DemoStepError(`backend ${method} ${path}: HTTP ${String(res.status)} ${text.slice(0, 200)}`);
  return JSON.parse(text) as unknown;
}

const RetrievalToken = z.object({ token: z.string(), lockerId: z.string(), compartmentId: z.string() });

/** POST /shipments/:id/retrieval-token: the courier app's credential for an expired or returned parcel. */
export async function retrievalToken(api: BackendApi, shipmentId: string, courierId: string): Promise<z.infer<typeof RetrievalToken>> {
  return RetrievalToken.parse(await call(api, 'POST', `/shipments/${encodeURIComponent(shipmentId)}/retrieval-token`, { courierId }));
}

const ShipmentView = z.object({ id: z.string(), state: z.string() }).loose();

export async function shipmentState(api: BackendApi, shipmentId: string): Promise<string> {
  return ShipmentView.parse(await call(api, 'GET', `/shipments/${encodeURIComponent(shipmentId)}`)).state;
}

/** POST /shipments/:id/return: the customer sends a collected parcel back (a drop-off code follows). */
export async function requestReturn(api: BackendApi, shipmentId: string, lockerId: string): Promise<string> {
  return ShipmentView.parse(await call(api, 'POST', `/shipments/${encodeURIComponent(shipmentId)}/return`, { lockerId, reason: 'simulator' })).state;
}

const CommandView = z.object({ transactionId: z.string(), state: z.enum(['pending', 'replied', 'expired']), reply: z.record(z.string(), z.unknown()).optional() }).loose();

/** POST /lockers/:id/commands (remote-open), then waits for the locker's reply. */
export async function remoteOpen(api: BackendApi, lockerId: string, compartmentId: string, timeoutMs: number): Promise<z.infer<typeof CommandView>> {
  const body = { command: { kind: 'remote-open', compartmentId, reason: 'technician console' } };
  const sent = CommandView.parse(await call(api, 'POST', `/lockers/${encodeURIComponent(lockerId)}/commands`, body, `remote-open-${randomUUID()}`));
  return waitUntil(async () => {
    const view = CommandView.parse(await call(api, 'GET', `/lockers/${encodeURIComponent(lockerId)}/commands/${encodeURIComponent(sent.transactionId)}`));
    return view.state === 'pending' ? undefined : view;
  }, `the locker's reply to remote open ${sent.transactionId}`, timeoutMs, 100);
}
