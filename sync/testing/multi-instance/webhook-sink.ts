import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { z } from 'zod';

// The merchant's messaging service, for fleet tests: receives the backends' signed webhook
// notifications, checks each signature, and records every delivery, so a test can count
// notifications that never came (lost) and ones that came twice (duplicated).

const Delivery = z.object({
  id: z.string(),
  kind: z.string(),
  recipient: z.record(z.string(), z.unknown()),
  payload: z.record(z.string(), z.unknown()),
  createdAt: z.number(),
});
export type Delivery = z.infer<typeof Delivery>;

export class WebhookSink {
  readonly deliveries: Delivery[] = [];
  readonly rejected: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly secret: string,
  ) {}

  /** Listens on loopback, on `port` when given (a backend configured elsewhere points at it), else a free one. */
  static async start(secret: string, port = 0): Promise<WebhookSink> {
    const holder: { sink?: WebhookSink } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const ok = holder.sink?.accept(String(req.headers['x-signature'] ?? ''), body) ?? false;
        res.statusCode = ok ? 204 : 400;
        res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    const address = server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : 0;
    const sink = new WebhookSink(server, `http://127.0.0.1:${String(bound)}/notify`, secret);
    holder.sink = sink;
    return sink;
  }

  private accept(signature: string, body: string): boolean {
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
    const expected = m === null ? undefined : createHmac('sha256', this.secret).update(`${m[1] ?? ''}.${body}`).digest();
    if (m === null || expected === undefined || !timingSafeEqual(expected, Buffer.from(m[2] ?? '', 'hex'))) {
      this.rejected.push('bad signature');
      return false;
    }
    const parsed = Delivery.safeParse(JSON.parse(body));
    if (!parsed.success) {
      this.rejected.push('bad body');
      return false;
    }
    this.deliveries.push(parsed.data);
    return true;
  }

  /** Deliveries of one notification id beyond the first. */
  duplicates(): number {
    const seen = new Set<string>();
    let dup = 0;
    for (const d of this.deliveries) {
      if (seen.has(d.id)) dup++;
      seen.add(d.id);
    }
    return dup;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
