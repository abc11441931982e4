import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { NotificationRecord } from '../store/records.js';
import { WebhookChannel } from './webhook-channel.js';

// Node's fetch (undici) returns a connection to its keep-alive pool only once the answer's
// body has been read to the end. The channel never read it: an answer larger than undici's
// buffers (~16 KiB) held its socket until garbage collection, so every notification opened
// a connection of its own and the sockets piled up on both ends. A real loopback server
// counts the TCP connections it accepts and how many are open at once.

const notification = (i: number): NotificationRecord => ({
  id: `ntf_${String(i)}`,
  dedupeKey: `k${String(i)}`,
  kind: 'order.placed',
  recipient: { name: 'Ada', email: 'ada@example.com' },
  payload: { orderId: `o${String(i)}` },
  state: 'pending',
  attempts: 0,
  nextAttemptAt: 0,
  createdAt: 0,
});

interface Receiver {
  url: string;
  accepted: () => number;
  maxOpen: () => number;
  server: Server;
}

async function receiver(status: number, body: string): Promise<Receiver> {
  let accepted = 0;
  let open = 0;
  let maxOpen = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end(body);
    });
  });
  server.on('connection', (socket) => {
    accepted++;
    maxOpen = Math.max(maxOpen, ++open);
    socket.on('close', () => open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/hook`, accepted: () => accepted, maxOpen: () => maxOpen, server };
}

const N = 20;

describe('webhook channel connections', () => {
  let r: Receiver | undefined;
  afterEach(async () => {
    r?.server.closeAllConnections();
    await new Promise((done) => r?.server.close(done) ?? done(undefined));
    r = undefined;
  });

  it('reuses keep-alive connections for 2xx answers with a body', async () => {
    r = await receiver(200, `<p>${'ok '.repeat(16_000)}</p>`);
    const channel = new WebhookChannel(r.url, 'a-very-secret-webhook-key', () => 0);
    for (let i = 0; i < N; i++) await channel.send(notification(i));
    expect(r.accepted()).toBeLessThanOrEqual(3);
  });

  it('reuses them for non-2xx answers too, and the error names the status and the start of the body', async () => {
    r = await receiver(502, `<html><title>Bad Gateway</title>${' '.repeat(40_000)}</html>`);
    const channel = new WebhookChannel(r.url, 'a-very-secret-webhook-key', () => 0);
    const errors: unknown[] = [];
    for (let i = 0; i < N; i++) errors.push(await channel.send(notification(i)).then(() => undefined, (e: unknown) => e));
    expect(r.accepted()).toBeLessThanOrEqual(3);
    expect(errors).toHaveLength(N);
    for (const e of errors) expect((e as Error).message).toMatch(/^webhook answered 502: <html><title>Bad Gateway<\/title>/);
  });

  it('cancels a body beyond the cap instead of buffering it, so its connection closes at once', async () => {
    r = await receiver(200, 'x'.repeat(4 * 1024 * 1024));
    const channel = new WebhookChannel(r.url, 'a-very-secret-webhook-key', () => 0);
    for (let i = 0; i < N; i++) await channel.send(notification(i));
    // Each oversized answer costs its connection, but none stays open waiting for GC.
    expect(r.maxOpen()).toBeLessThanOrEqual(3);
  });

  it('keeps control characters and the pickup code the receiver echoed out of the error (stored and logged)', async () => {
    // A receiver that quotes the request it refused (a validation error, an echo) would put
    // the plaintext code, sealed at rest and redacted once sent, into the outbox's failure
    // reason and the log; a NUL in it made PostgreSQL refuse to store that reason at all.
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/octet-stream' });
        res.end(`\u0000\u001b[31mbad\u202e request: ${body}`);
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    r = { url: '', accepted: () => 0, maxOpen: () => 0, server };
    const channel = new WebhookChannel(`http://127.0.0.1:${String((server.address() as AddressInfo).port)}/hook`, 'a-very-secret-webhook-key', () => 0);
    const err = await channel.send({ ...notification(1), payload: { orderId: 'o1', code: '482913' } }).then(() => undefined, (e: unknown) => e);
    const message = (err as Error).message;
    expect(message).toMatch(/^webhook answered 400: /);
    expect(message).toContain('bad request');
    expect(message).not.toContain('482913');
    expect(message).not.toMatch(/[\p{Cc}\p{Cf}]/u);
  });
});
