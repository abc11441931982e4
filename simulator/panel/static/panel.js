// The technician's panel: wires the page to the server. State comes from the server only
// (`locker` views over SSE); events come with their words; every click is one console
// command on the locker, run by the server.

import { act, getJson, onSessionEnded, postJson, probeSession } from './api.js';
import { drawOrders } from './backend-view.js';
import { EventLog } from './event-log.js';
import { drawBank, drawState, relayFired } from './locker-view.js';

const $ = (id) => document.getElementById(id);

const state = {
  /** The server's views of the lockers; each carries the locker's alarm count (the overview's). */
  lockers: new Map(),
  selected: undefined,
  /** The technician picked a locker on this page (the address's choice no longer applies). */
  chosen: false,
  backend: false,
  /** The simulator restarted: this page's session token is refused, nothing is retried. */
  ended: false,
};

const log = new EventLog($('event-log'), $('announcer'), () => $('show-details').checked);

function selectedLocker() {
  return state.lockers.get(state.selected);
}

function say(text) {
  $('backend-message').textContent = text;
}

function showLines(lines) {
  $('console-output').textContent = lines.join('\n');
}

async function run(action) {
  if (!state.selected) return;
  try {
    showLines(await act(state.selected, action));
  } catch (err) {
    showLines([`error: ${err.message}`]);
  }
}

// --- drawing -------------------------------------------------------------------------------

function drawLocker() {
  const locker = selectedLocker();
  if (!locker) return;
  $('locker-title').textContent = `${locker.name} (${locker.id})`;
  $('locker-location').textContent = locker.location;
  drawState($('locker-state'), locker);
  drawBank($('bank'), locker, (compartmentId, open) => run({ action: 'door', compartmentId, open }));
  const display = $('display');
  display.textContent = locker.powered ? (locker.display?.text ?? '') : '(dark: no power)';
  display.dataset.tone = locker.powered ? (locker.display?.tone ?? 'idle') : 'off';
  $('network-toggle').textContent = locker.networkUp === false ? 'Restore the network' : 'Drop the network';
  // Rebuilt only when the layout changes (another locker), so an open list is not disturbed.
  const select = $('fault-compartment');
  const layout = locker.compartments.map((c) => `${c.id} (${c.size})`);
  if (select.dataset.layout !== layout.join()) {
    select.dataset.layout = layout.join();
    select.replaceChildren(...locker.compartments.map((c, i) => new Option(layout[i], c.id)));
  }
}

/**
 * Every bank at a glance: power, broker, alarms; a click selects it. The alarm count is the
 * server's (in each locker view), not counted here from the events: a page that reconnects
 * after a gap never saw some of them.
 */
function drawOverview() {
  const items = [...state.lockers.values()].map((l) => {
    const alarms = l.alarms ?? 0;
    const occupied = l.compartments.filter((c) => c.status === 'occupied').length;
    const outOfService = l.compartments.filter((c) => c.status === 'out-of-service').length;
    const parts = [
      l.powered ? null : 'NO POWER',
      l.online === undefined ? 'offline locker' : l.online ? 'online' : 'OFFLINE',
      `${occupied}/${l.compartments.length} occupied`,
      outOfService > 0 ? `${outOfService} out of service` : null,
      alarms > 0 ? `${alarms} alarm(s)` : null,
    ].filter(Boolean);
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.lockerId = l.id;
    button.className = alarms > 0 || !l.powered || l.online === false ? 'attention' : '';
    if (l.id === state.selected) button.setAttribute('aria-current', 'true');
    button.textContent = `${l.id} (${l.location}): ${parts.join(', ')}`;
    button.addEventListener('click', () => selectLocker(l.id));
    const li = document.createElement('li');
    li.append(button);
    return li;
  });
  $('overview').replaceChildren(...items);
}

// The locker on screen is kept in the address (#locker=<id>), so a reload (after a restart
// ended the session) comes back to it rather than to the first bank.
const wantedLocker = new URLSearchParams(location.hash.slice(1)).get('locker') ?? undefined;

function selectLocker(id, byUser = true) {
  if (byUser) state.chosen = true;
  state.selected = id;
  history.replaceState(null, '', `#locker=${encodeURIComponent(id)}`);
  $('locker-select').value = id;
  drawLocker();
  drawOverview();
  log.render(state.selected);
}

function drawLockerChoice() {
  const select = $('locker-select');
  const current = select.value;
  select.replaceChildren(...[...state.lockers.values()].map((l) => new Option(`${l.id}: ${l.location}`, l.id)));
  select.value = current || state.selected || '';
}

// --- live stream -------------------------------------------------------------------------

let lastEventId;
let stream;
let probing = false;

/**
 * The simulator restarted with a new session token: every reconnect would be refused, so
 * the page stops trying and says so, with a reload (which brings the new token).
 */
function endSession() {
  if (state.ended) return;
  state.ended = true;
  stream?.close();
  clearTimeout(ordersTimer);
  $('connection').textContent = 'session ended';
  $('connection').dataset.state = 'ended';
  $('session-ended').hidden = false;
  $('reload').focus();
}

/** A stream error is an outage (keep reconnecting) or a refused session (end it): ask the server. */
async function checkSession() {
  if (probing || state.ended) return;
  probing = true;
  try {
    if ((await probeSession()) === 'ended') endSession();
  } finally {
    probing = false;
  }
}

function connect() {
  if (state.ended) return;
  // The browser reconnects by itself with Last-Event-ID; a stream it gave up on is reopened
  // here with the last id in the query, so the server still replays what was missed.
  const source = new EventSource(lastEventId === undefined ? '/events' : `/events?lastEventId=${lastEventId}`);
  stream = source;
  source.addEventListener('open', () => {
    $('connection').textContent = 'live';
    $('connection').dataset.state = 'live';
  });
  source.addEventListener('error', () => {
    if (state.ended) return;
    $('connection').textContent = 'reconnecting…';
    $('connection').dataset.state = 'down';
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2_000);
    void checkSession();
  });
  source.addEventListener('locker', (m) => {
    const view = JSON.parse(m.data);
    const isNew = !state.lockers.has(view.id);
    state.lockers.set(view.id, view);
    if (isNew) drawLockerChoice();
    // The first bank until the one in the address arrives, unless the technician picked one meanwhile.
    if (state.selected === undefined || (view.id === wantedLocker && !state.chosen && state.selected !== view.id)) selectLocker(view.id, false);
    if (view.id === state.selected) drawLocker();
    drawOverview();
  });
  source.addEventListener('sim', (m) => {
    const event = JSON.parse(m.data);
    lastEventId = m.lastEventId;
    log.add(Number(m.lastEventId), event);
    log.announce(event);
    if (event.type === 'relay' && event.state === 'on') {
      relayFired(event.lockerId, event.compartmentId);
      // Redraw once the firing animation is over.
      setTimeout(() => event.lockerId === state.selected && drawLocker(), 950);
    }
    if (event.lockerId === state.selected) {
      log.render(state.selected);
      if (event.type === 'relay') drawLocker();
    }
    scheduleOrders();
  });
  source.addEventListener('gap', () => {
    log.gap(state.selected);
    log.render(state.selected);
  });
}

// --- the backend side ------------------------------------------------------------------

let ordersTimer;
function scheduleOrders(delay = 300) {
  if (!state.backend || state.ended) return;
  clearTimeout(ordersTimer);
  ordersTimer = setTimeout(refreshOrders, delay);
}

const FINAL_SHIPMENT_STATES = new Set(['collected', 'cancelled', 'returned', 'returned_to_sender']);
let drawnOrders = '';

async function refreshOrders() {
  try {
    const orders = await getJson('/api/orders');
    const details = await Promise.all(orders.slice(0, 10).map((o) => getJson(`/api/orders/${encodeURIComponent(o.id)}`)));
    // Redrawn only when something changed, so a keyboard user's focus is not swept away.
    const snapshot = JSON.stringify(details);
    if (snapshot !== drawnOrders) {
      drawnOrders = snapshot;
      const focusKey = document.activeElement?.dataset?.focusKey;
      drawOrders($('orders'), details, (text) => {
        $('scanner-input').value = text;
        $('scanner-input').focus();
      });
      if (focusKey) document.querySelector(`#orders [data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
    }
    // Notifications arrive from the backend's outbox on its own time: keep looking while a parcel is on its way.
    const open = orders.some((o) => o.shipments.some((s) => !FINAL_SHIPMENT_STATES.has(s.state)));
    if (open) scheduleOrders(1_500);
  } catch (err) {
    say(`backend: ${err.message}`);
    scheduleOrders(3_000);
  }
}

// --- controls ---------------------------------------------------------------------------

const KEY = /^[0-9#*Cc]$/;

function wireControls() {
  onSessionEnded(endSession);
  $('reload').addEventListener('click', () => location.reload());
  $('locker-select').addEventListener('change', (e) => selectLocker(e.target.value));
  for (const button of document.querySelectorAll('#keypad button')) {
    button.addEventListener('click', () => run({ action: 'keys', keys: button.dataset.key }));
  }
  // Typing on the focused keypad presses its keys; Enter is '#', Backspace/Delete is '*'.
  $('keypad').addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    let key = e.key;
    if (key === 'Enter' && e.target === $('keypad')) key = '#';
    if (key === 'Backspace' || key === 'Delete') key = '*';
    if (key === 'Escape') key = 'C';
    if (!KEY.test(key)) return;
    e.preventDefault();
    const button = document.querySelector(`#keypad button[data-key="${key.toUpperCase()}"]`);
    button?.classList.add('pressed');
    setTimeout(() => button?.classList.remove('pressed'), 150);
    run({ action: 'keys', keys: key });
  });
  $('scanner-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('scanner-input').value.trim();
    if (text) run({ action: 'scan', text });
  });
  $('courier-credential').addEventListener('click', async () => {
    try {
      const credential = await postJson(`/api/lockers/${encodeURIComponent(state.selected)}/courier-credential`, {});
      $('scanner-input').value = credential.token;
      say('courier credential issued: it is in the scanner box, press Scan');
    } catch (err) {
      say(`backend: ${err.message}`);
    }
  });
  for (const button of document.querySelectorAll('[data-fault]')) {
    button.addEventListener('click', () => run({ action: 'fault', compartmentId: $('fault-compartment').value, fault: button.dataset.fault }));
  }
  $('clear-faults').addEventListener('click', () => run({ action: 'clear-fault', compartmentId: $('fault-compartment').value }));
  $('back-in-service').addEventListener('click', () => run({ action: 'service', compartmentId: $('fault-compartment').value, inService: true }));
  $('power-cut').addEventListener('click', () => run({ action: 'power-cut' }));
  $('network-toggle').addEventListener('click', () => run({ action: 'network', up: selectedLocker()?.networkUp === false }));
  $('clock-forward').addEventListener('click', () => run({ action: 'clock', mode: 'forward', minutes: Number($('clock-minutes').value) }));
  $('clock-wall').addEventListener('click', () => run({ action: 'clock', mode: 'wall', minutes: Number($('clock-minutes').value) }));
  $('flood-keypad').addEventListener('click', () => run({ action: 'flood-keypad', codes: 10 }));
  $('expire').addEventListener('click', () => run({ action: 'expire' }));
  $('retrieve').addEventListener('click', () => run({ action: 'retrieve' }));
  $('console-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const line = $('console-input').value.trim();
    if (line) run({ action: 'command', line });
  });
  $('show-details').addEventListener('change', () => log.render(state.selected));
  $('order-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!state.selected) return;
    say('placing the order…');
    try {
      const placed = await postJson('/api/orders', { lockerId: state.selected, size: $('order-size').value, customerName: $('order-customer').value });
      say(`order ${placed.order.id} placed: shipment ${placed.shipmentId} goes to compartment ${placed.compartmentId}`);
      await refreshOrders();
    } catch (err) {
      say(`backend: ${err.message}`);
    }
  });
}

async function start() {
  wireControls();
  const session = await getJson('/api/session');
  state.backend = session.backendUrl !== undefined;
  $('backend-url').textContent = session.backendUrl ?? 'none (offline lockers)';
  if (!state.backend) $('order-form').querySelector('button').disabled = true;
  connect();
  if (state.backend) scheduleOrders(0);
}

start().catch((err) => {
  $('connection').textContent = `failed to start: ${err.message}`;
});
