import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ApiError, PanelApi } from './panel-api.js';
import { PanelGuard, TOKEN_HEADER } from './panel-guard.js';
import type { PanelPort } from './panel-port.js';
import { SseHub } from './sse-hub.js';

// The technician's panel over node:http: the page and its static files, the JSON API
// (panel-api.ts), the live event stream (sse-hub.ts), all on 127.0.0.1 only. No framework:
// a dozen routes do not need one, and the server stays a thin shell around the port.

export interface PanelServerOptions {
  port: PanelPort;
  logger: Logger;
  /** 0 (default): a free port. */
  listenPort?: number;
  ringSize?: number;
  heartbeatMs?: number;
  /**
   * Bytes a page's event stream may fall behind before it is cut off (it reconnects and
   * catches up from the ring); live events held back while its snapshot is fetched count
   * too. Any size works with any ring: a page's own catch-up (snapshot and replay) is
   * allowed on top of it until the page has taken it (sse-hub.ts).
   */
  maxStreamBufferBytes?: number;
  /** The page's files (index.html, panel.js…); found beside the code by default. */
  staticDir?: string;
}

export interface PanelServer {
  /** http://127.0.0.1:<port>/ */
  readonly url: string;
  /** The session token the page carries (tests act as the page with it). */
  readonly token: string;
  readonly connections: () => number;
  /** Ends every open event stream: pages reconnect with Last-Event-ID (what a server restart or a proxy does to them). */
  dropStreams(): void;
  close(): Promise<void>;
}

/**
 * Where the page's files are: beside this file when run from source (tsx), beside or above
 * the bundle when the simulator is built into simulator/dist (scripts/build.ts bundles code,
 * not assets, so the files are read from the source tree that ships with it).
 */
function findStaticDir(): string {
  for (const relative of ['./static/', './panel/static/', '../panel/static/']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  throw new Error(`the panel's page (simulator/panel/static/index.html) is not beside ${fileURLToPath(import.meta.url)}`);
}
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** Self-contained page: nothing from anywhere else, no inline script, no framing. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  // Not no-referrer: under it a same-origin POST may carry `Origin: null` (Fetch spec; Firefox
  // does), which the guard refuses as cross-origin. same-origin still sends nothing elsewhere.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};
const MAX_BODY = 64 * 1024;

export async function startPanelServer(options: PanelServerOptions): Promise<PanelServer> {
  const log = options.logger.child({ component: 'panel' });
  const staticDir = options.staticDir ?? findStaticDir();
  let boundPort = 0;
  const guard = new PanelGuard(() => boundPort);
  const api = new PanelApi(options.port, log);
  const hub = new SseHub({
    port: options.port, logger: log, ringSize: options.ringSize ?? 1_000, heartbeatMs: options.heartbeatMs ?? 15_000,
    snapshotDelayMs: 25, freshReplay: 200, maxBufferedBytes: options.maxStreamBufferBytes ?? 16 * 1024 * 1024,
  });

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const known = err instanceof ApiError;
      if (!known) log.error({ err, method: req.method, path: req.url?.split('?')[0] }, 'panel.request_failed');
      if (res.headersSent) {
        res.end();
        return;
      }
      sendJson(res, known ? err.status : 500, { error: known ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: 'internal error (see the simulator log)' } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://panel.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (method === 'GET' && (path === '/' || path === '/index.html')) {
      if (!guard.hostAllowed(req)) throw new ApiError(421, 'WRONG_HOST', 'this panel answers only on 127.0.0.1 or localhost');
      const html = (await readFile(join(staticDir, 'index.html'), 'utf8')).replace('__PANEL_TOKEN__', guard.token);
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': CONTENT_TYPES['.html'], 'set-cookie': guard.cookie() });
      res.end(html);
      return;
    }
    if (method === 'GET' && path.startsWith('/static/')) {
      await sendStatic(res, staticDir, path.slice('/static/'.length));
      return;
    }
    if (path === '/events' || path.startsWith('/api/')) {
      const verdict = method === 'GET' ? guard.checkRead(req) : guard.checkWrite(req);
      if (!verdict.ok) throw new ApiError(verdict.status, verdict.code, verdict.reason);
    }
    if (method === 'GET' && path === '/events') {
      const locker = url.searchParams.get('locker') ?? undefined;
      const last = req.headers['last-event-id'] ?? url.searchParams.get('lastEventId') ?? undefined;
      const lastId = typeof last === 'string' && /^\d{1,15}$/.test(last) ? Number(last) : undefined;
      await hub.attach(res, locker === '' ? undefined : locker, lastId);
      return;
    }
    const route = `${method} ${path}`;
    let match: RegExpExecArray | null;
    if (route === 'GET /api/session') return sendJson(res, 200, await api.session());
    if (route === 'GET /api/lockers') return sendJson(res, 200, await api.lockers());
    if (route === 'GET /api/orders') return sendJson(res, 200, await api.orders());
    if (route === 'POST /api/orders') return sendJson(res, 201, await api.placeOrder(await readJson(req)));
    if ((match = /^GET \/api\/orders\/([^/]+)$/.exec(route)) !== null) return sendJson(res, 200, await api.order(pathParam(match[1])));
    if ((match = /^POST \/api\/lockers\/([^/]+)\/actions$/.exec(route)) !== null) {
      return sendJson(res, 200, await api.act(pathParam(match[1]), await readJson(req)));
    }
    if ((match = /^POST \/api\/lockers\/([^/]+)\/courier-credential$/.exec(route)) !== null) {
      await readJson(req);
      return sendJson(res, 201, await api.courierCredential(pathParam(match[1])));
    }
    throw new ApiError(404, 'NOT_FOUND', `no route ${method} ${path}`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;
  hub.start();
  const url = `http://127.0.0.1:${String(boundPort)}/`;
  log.info({ url }, 'panel.listening');
  return {
    url,
    token: guard.token,
    connections: () => hub.connections,
    dropStreams: () => hub.dropStreams(),
    close: async () => {
      hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      log.info({}, 'panel.stopped');
    },
  };
}

/** A path segment as the page encoded it; a malformed %-escape is the caller's mistake (400), not ours. */
function pathParam(raw: string | undefined): string {
  try {
    return decodeURIComponent(raw ?? '');
  } catch {
    throw new ApiError(400, 'BAD_REQUEST', `malformed %-encoding in the path: ${JSON.stringify(raw ?? '')}`);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

async function sendStatic(res: ServerResponse, dir: string, name: string): Promise<void> {
  // Flat folder, plain names: nothing to traverse.
  const type = CONTENT_TYPES[extname(name)];
  if (!/^[a-z0-9-]+\.[a-z]+$/.test(name) || type === undefined) throw new ApiError(404, 'NOT_FOUND', 'no such file');
  let body: Buffer;
  try {
    body = await readFile(join(dir, name));
  } catch {
    throw new ApiError(404, 'NOT_FOUND', 'no such file');
  }
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ApiError(413, 'TOO_LARGE', `the body is larger than ${String(MAX_BODY)} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(400, 'BAD_JSON', `the body is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export { TOKEN_HEADER };
