// The backend side: orders placed from the panel, their shipments, the tracking timeline
// and what the customer received (the code and the pickup QR code, drawn by the server).

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function time(at) {
  return new Date(at).toISOString().slice(11, 19);
}

/** `onBarcode(text)` puts a parcel barcode into the scanner box. */
export function drawOrders(container, details, onBarcode) {
  container.replaceChildren();
  for (const { order, timeline, notifications } of details) {
    const card = el('article', undefined, 'order');
    card.dataset.orderId = order.id;
    card.setAttribute('aria-label', `Order ${order.id}`);
    card.append(el('h3', `Order ${order.id}: ${order.state}`));
    card.append(el('p', `Customer ${order.customerName}`));

    const shipments = el('ul', undefined, 'shipments');
    shipments.setAttribute('aria-label', `Shipments of ${order.id}`);
    for (const s of order.shipments) {
      const li = el('li', undefined, 'shipment');
      li.dataset.shipmentId = s.id;
      li.dataset.state = s.state;
      if (s.compartmentId) li.dataset.compartment = s.compartmentId;
      li.append(el('span', `Shipment ${s.id} (${s.carrier} ${s.trackingNumber}): ${s.state}`, 'shipment-state'));
      if (s.lockerId) li.append(el('span', `, locker ${s.lockerId} compartment ${s.compartmentId ?? '?'} (${s.size ?? '?'})`));
      const scan = el('button', `Parcel barcode ${s.id} into the scanner`);
      scan.type = 'button';
      scan.dataset.focusKey = `barcode:${s.id}`;
      scan.addEventListener('click', () => onBarcode(s.id));
      li.append(' ', scan);
      shipments.append(li);
    }
    card.append(shipments);

    const tl = el('ol', undefined, 'timeline');
    tl.setAttribute('aria-label', `Timeline of ${order.id}`);
    for (const t of timeline) tl.append(el('li', `${time(t.at)} ${t.entity} ${t.entityId}: ${t.from ? `${t.from} → ` : ''}${t.to} (${t.event}, by ${t.actor})`));
    card.append(el('h4', 'Tracking timeline'), tl);

    const inbox = el('ul', undefined, 'notifications');
    inbox.setAttribute('aria-label', `Notifications to the customer of ${order.id}`);
    for (const n of notifications) {
      const li = el('li', undefined, 'notification');
      li.dataset.kind = n.kind;
      li.append(el('span', `${time(n.at)} ${n.kind}${n.shipmentId ? ` (${n.shipmentId})` : ''}`));
      if (n.code) {
        const code = el('span', undefined, 'code');
        code.append('code ', el('strong', n.code, 'pickup-code'));
        li.append(' ', code);
      }
      if (n.qrSvg) {
        const img = document.createElement('img');
        img.className = 'qr';
        img.alt = `Pickup QR code for shipment ${n.shipmentId ?? ''}`;
        img.src = `data:image/svg+xml;base64,${btoa(n.qrSvg)}`;
        li.append(img);
      }
      // The token goes to the scanner even when it was too long to draw as a QR code.
      if (n.qrToken) {
        const scan = el('button', 'QR code into the scanner');
        scan.type = 'button';
        scan.dataset.focusKey = `qr:${n.id}`;
        scan.addEventListener('click', () => onBarcode(n.qrToken));
        li.append(scan);
      }
      inbox.append(li);
    }
    card.append(el('h4', 'What the customer received'), inbox);
    container.append(card);
  }
}
