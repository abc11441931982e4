import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

// Who may drive the locker through the panel: the page this server handed out, and nothing
// else running on the machine. The panel listens on loopback only, but any local web page
// can send requests to loopback. Three checks close that:
//  - Host must name this server (127.0.0.1:<port> or localhost:<port>): a DNS-rebinding
//    page reaches us under its own host name and is refused.
//  - A session token, fresh at every start, travels in an HttpOnly SameSite=Strict cookie
//    set with the page: a request from another site carries no cookie. Every /api and
//    /events request needs it. (SameSite treats other ports of 127.0.0.1 as the same site;
//    the token header below is what keeps a page served from another local port out.)
//  - Mutating requests also need the token in an `X-Panel-Token` header (the page reads it
//    from its own markup) and a JSON body: a cross-origin form post can set neither without
//    a CORS preflight, which this server never answers.

/** Cookies are shared by every port of a host: the name carries the port, so two panels on one machine do not evict each other's session. */
export const cookieName = (port: number): string => `locker_panel_${String(port)}`;
export const TOKEN_HEADER = 'x-panel-token';

/**
 * The code of a refusal because the page's session is not this server's (a tab from before
 * a restart): the only 403 after which the page says its session ended. Other 403s (another
 * origin, the backend refusing the simulator's key) leave it alone.
 */
export const NO_SESSION = 'NO_SESSION';

export type GuardVerdict = { ok: true } | { ok: false; status: 403 | 415 | 421; code: string; reason: string };

export class PanelGuard {
  readonly token = randomBytes(24).toString('base64url');

  constructor(private readonly port: () => number) {}

  /** The Set-Cookie value that goes with the page. */
  cookie(): string {
    return `${cookieName(this.port())}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }

  hostAllowed(req: IncomingMessage): boolean {
    const host = (req.headers.host ?? '').toLowerCase();
    const port = String(this.port());
    return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  }

  /** Reads (/api GET, /events): this server's host and the session cookie. */
  checkRead(req: IncomingMessage): GuardVerdict {
    if (!this.hostAllowed(req)) return { ok: false, status: 421, code: 'WRONG_HOST', reason: 'this panel answers only on 127.0.0.1 or localhost' };
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) return { ok: false, status: 403, code: 'CROSS_ORIGIN', reason: 'cross-origin request' };
    if (!this.matches(cookieValue(req.headers.cookie, cookieName(this.port())))) return { ok: false, status: 403, code: NO_SESSION, reason: 'no panel session: open the panel page first' };
    return { ok: true };
  }

  /** Writes: the read checks, the token header and a JSON body. */
  checkWrite(req: IncomingMessage): GuardVerdict {
    const read = this.checkRead(req);
    if (!read.ok) return read;
    const header = req.headers[TOKEN_HEADER];
    if (!this.matches(typeof header === 'string' ? header : undefined)) return { ok: false, status: 403, code: NO_SESSION, reason: 'missing or wrong X-Panel-Token' };
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') return { ok: false, status: 415, code: 'NOT_JSON', reason: 'the body must be application/json' };
    return { ok: true };
  }

  private matches(candidate: string | undefined): boolean {
    if (candidate === undefined) return false;
    const a = Buffer.from(candidate);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}
