import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkLink } from './network-link.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A TCP echo server on a free loopback port. */
async function echoServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `mqtt://127.0.0.1:${String(address.port)}`;
}

function open(url: string): Promise<{ socket: Socket; closed: Promise<void>; echo(text: string): Promise<string> }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.once('connect', () =>
      resolve({
        socket,
        closed,
        echo: (text) =>
          new Promise((res) => {
            socket.once('data', (d: Buffer) => res(d.toString()));
            socket.write(text);
          }),
      }),
    );
    socket.once('error', reject);
  });
}

describe('network link', () => {
  it('relays to the broker, resets every connection when pulled, refuses new ones, and relays again when plugged back', async () => {
    const link = await NetworkLink.start(await echoServer());
    cleanup.push(() => link.close());
    const first = await open(link.url);
    expect(await first.echo('hello')).toBe('hello');

    link.down();
    await first.closed;
    // A new connection is reset (before or right after the handshake) and relays nothing.
    const refused = connect({ host: '127.0.0.1', port: Number(new URL(link.url).port) });
    refused.on('error', () => undefined);
    await new Promise<void>((resolve) => refused.on('close', () => resolve()));
    expect(refused.bytesRead).toBe(0);

    link.restore();
    const again = await open(link.url);
    expect(await again.echo('back')).toBe('back');
    again.socket.destroy();
  });
});
