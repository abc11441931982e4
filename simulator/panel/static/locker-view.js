// Draws one locker bank as a person standing in front of it sees it: compartments in
// columns, each as tall as its size, the door open or shut, the relay coil firing, a
// parcel inside, out of service, fault badges. Drawn from the server's LockerView only.

const HEIGHT = { S: 1, M: 2, L: 4, XL: 6 };
const COLUMN_UNITS = 8;
/** How long a relay shows as firing after its 'on' event, so a short pulse is visible. */
const FIRING_MS = 900;

const firingUntil = new Map();

export function relayFired(lockerId, compartmentId) {
  firingUntil.set(`${lockerId}/${compartmentId}`, Date.now() + FIRING_MS);
}

function isFiring(lockerId, c) {
  return c.relay || (firingUntil.get(`${lockerId}/${c.id}`) ?? 0) > Date.now();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** Columns filled top to bottom, each at most COLUMN_UNITS tall: how real banks are built. */
function columns(compartments) {
  const cols = [];
  let current = [];
  let used = 0;
  for (const c of compartments) {
    const h = HEIGHT[c.size] ?? 2;
    if (used + h > COLUMN_UNITS && current.length > 0) {
      cols.push(current);
      current = [];
      used = 0;
    }
    current.push(c);
    used += h;
  }
  if (current.length > 0) cols.push(current);
  return cols;
}

export function describeCompartment(lockerId, c) {
  const parts = [`${c.id}, size ${c.size}`, `door ${c.door}`];
  if (isFiring(lockerId, c)) parts.push('relay firing');
  parts.push(c.status === 'out-of-service' ? `out of service${c.outOfServiceReason ? ` (${c.outOfServiceReason})` : ''}` : c.status);
  if (c.faults.length > 0) parts.push(`faults: ${c.faults.join(', ')}`);
  return parts.join(', ');
}

/** Redraws the bank; `onDoor(compartmentId, open)` is the person pulling or pushing a door. */
export function drawBank(container, locker, onDoor) {
  const focusedId = document.activeElement?.closest?.('[data-compartment]')?.getAttribute('data-compartment');
  container.replaceChildren();
  for (const column of columns(locker.compartments)) {
    const col = el('div', { class: 'column' });
    for (const c of column) {
      const firing = isFiring(locker.id, c);
      const classes = ['compartment', `size-${c.size}`, `door-${c.door}`, `status-${c.status}`];
      if (firing) classes.push('relay-firing');
      if (c.faults.length > 0) classes.push('has-faults');
      const badges = el('ul', { class: 'badges', 'aria-label': `Badges of ${c.id}` });
      if (c.status === 'occupied') badges.append(el('li', { class: 'badge parcel', text: 'parcel' }));
      if (c.status === 'out-of-service') badges.append(el('li', { class: 'badge oos', text: 'out of service' }));
      if (firing) badges.append(el('li', { class: 'badge relay', text: 'relay firing' }));
      for (const f of c.faults) badges.append(el('li', { class: 'badge fault', text: f }));
      const button = el('button', {
        type: 'button', class: 'door-button', 'data-compartment': c.id,
        text: c.door === 'open' ? `Close ${c.id}` : `Pull ${c.id} open`,
      });
      button.addEventListener('click', () => onDoor(c.id, c.door !== 'open'));
      const box = el(
        'div',
        { class: classes.join(' '), role: 'group', 'aria-label': describeCompartment(locker.id, c), 'data-id': c.id, 'data-door': c.door, 'data-status': c.status },
        el('div', { class: 'door-leaf', 'aria-hidden': 'true' }, el('span', { class: 'coil' })),
        el('div', { class: 'label' }, el('strong', { text: c.id }), el('span', { class: 'size', text: ` ${c.size}` })),
        el('p', { class: 'door-state', text: `door ${c.door}` }),
        badges,
        button,
      );
      col.append(box);
      if (focusedId === c.id) queueMicrotask(() => button.focus());
    }
    container.append(col);
  }
}

export function drawState(dl, locker) {
  const rows = [
    ['Power', locker.powered ? 'on' : 'CUT'],
    ['Broker', locker.online === undefined ? 'offline locker' : locker.online ? 'online' : 'OFFLINE'],
    ['Network', locker.networkUp === undefined ? 'none' : locker.networkUp ? 'up' : 'DOWN'],
    ['Code set', `version ${locker.codeSetVersion}`],
    ['Outbox backlog', `${locker.outboxBacklog} audit record(s)`],
    ['Keypad lockout', locker.lockout.active ? `ACTIVE (${locker.lockout.failures} failures)` : `none (${locker.lockout.failures} recent failures)`],
    ['Clock', new Date(locker.clock).toISOString().replace('T', ' ').slice(0, 19) + ' UTC'],
  ];
  dl.replaceChildren();
  for (const [term, value] of rows) {
    dl.append(el('div', { 'data-term': term }, el('dt', { text: term }), el('dd', { text: value })));
  }
}
