// Calls to the panel server. Writes carry the session token from the page's own markup;
// actions on a locker go out one at a time, in order, as keys on a real keypad do.

const token = document.querySelector('meta[name="panel-token"]')?.getAttribute('content') ?? '';

export class ApiError extends Error {}

// The session token is made at each simulator start and reaches the page only with the page
// itself (its markup and its HttpOnly cookie), so a page from before a restart is refused
// (403 NO_SESSION, panel-guard.ts) for good: only a reload gets the new session. Other 403s
// (the backend refusing the simulator's API key, another origin) are not the session's end.
const NO_SESSION = 'NO_SESSION';
let sessionEnded = () => undefined;

/** `listener` runs when the server refuses this page's session (it restarted meanwhile). */
export function onSessionEnded(listener) {
  sessionEnded = listener;
}

/**
 * What a dropped event stream means, as EventSource does not tell the status: 'ended' when
 * the server refuses this page's session, 'down' when nothing answers (it reconnects by
 * itself), 'up' when the server answers.
 */
export async function probeSession() {
  let res;
  try {
    res = await fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    return 'down';
  }
  if (res.status === 403 && (await errorCode(res)) === NO_SESSION) return 'ended';
  return res.ok ? 'up' : 'down';
}

async function errorCode(res) {
  const data = await res.json().catch(() => undefined);
  return data?.error?.code;
}

async function request(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    init.headers['x-panel-token'] = token;
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => undefined);
  if (res.status === 403 && data?.error?.code === NO_SESSION) sessionEnded();
  if (!res.ok) throw new ApiError(data?.error?.message ?? `HTTP ${res.status}`);
  return data;
}

export const getJson = (path) => request('GET', path);
export const postJson = (path, body) => request('POST', path, body);

let queue = Promise.resolve();

/** Runs one action on a locker after every earlier one finished; resolves to the printed lines. */
export function act(lockerId, action) {
  const run = queue.then(() => postJson(`/api/lockers/${encodeURIComponent(lockerId)}/actions`, action));
  queue = run.catch(() => undefined);
  return run.then((r) => r.lines);
}
