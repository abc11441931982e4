// Calls to the panel server. Writes carry the session token from the page's own markup;
// actions on a locker go out one at a time, in order, as keys on a real keypad do.

const token = document.querySelector('meta[name="panel-token"]')?.getAttribute('content') ?? '';

export class ApiError extends Error {}

async function request(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    init.headers['x-panel-token'] = token;
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => undefined);
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
