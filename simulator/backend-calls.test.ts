import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { remoteOpen } from './backend-calls.js';
import type { BackendApi } from './sim-network.js';

// The console's remote open over a real loopback listener standing in for the backend: the
// first POST's answer is lost (the connection is dropped after the request arrived, as when
// the backend committed and then the network failed). The console must send it again under
// the same Idempotency-Key, so the backend replays the first command instead of opening the
// door a second time.

describe('the console\'s remote open', () => {
  let server: Server;
  let api: BackendApi;
  const posts: Array<string | undefined> = [];
  let dropNextPost: boolean;

  beforeEach(async () => {
    posts.length = 0;
    dropNextPost = true;
    server = createServer((req: IncomingMessage, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST') {
          const key = req.headers['idempotency-key'];
          posts.push(Array.isArray(key) ? key[0] : key);
          if (dropNextPost) {
            dropNextPost = false;
            req.socket.destroy();
            return;
          }
          res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ transactionId: 'txn-1', state: 'pending' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ transactionId: 'txn-1', state: 'replied', reply: { status: 'ok' } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = { url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`, apiKey: 'k', external: true };
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends the command again under the same Idempotency-Key when the answer is lost', async () => {
    const view = await remoteOpen(api, 'lk-a', 'M1', 5_000);
    expect(view.state).toBe('replied');
    expect(posts).toHaveLength(2);
    expect(posts[0]).toMatch(/^[\x21-\x7e]{8,128}$/);
    expect(posts[1]).toBe(posts[0]);
  });

  it('uses a fresh key for each remote open', async () => {
    dropNextPost = false;
    await remoteOpen(api, 'lk-a', 'M1', 5_000);
    await remoteOpen(api, 'lk-a', 'M1', 5_000);
    expect(posts).toHaveLength(2);
    expect(posts[1]).not.toBe(posts[0]);
  });
});
