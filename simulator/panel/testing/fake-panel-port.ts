import { PanelEvent, type PanelEventBody } from '../panel-events.js';
import {
  PanelBackendError, UnknownLockerError,
  type CourierCredential, type CustomerNotification, type LockerView, type OrderSummary, type PanelBackend, type PanelPort,
  type PlaceOrderInput, type PlacedOrder, type TimelineEntry, type Unsubscribe,
} from '../panel-port.js';
import { FakeLocker, type FakeParcel } from './fake-locker.js';
import { fakeWords } from './fake-words.js';

// An in-memory simulator session behind the PanelPort: locker banks (fake-locker.ts) and a
// backend that places orders into them, issues courier credentials and notifies customers
// with their code once a parcel is deposited. Deterministic apart from the injected clock:
// codes and tokens come from counters, so tests can reason about them.

export interface FakePanelPortOptions {
  lockers?: readonly { id: string; name: string; location: string; compartments: readonly { id: string; size: 'S' | 'M' | 'L' | 'XL' }[] }[];
  now?: () => number;
  /** How long a power cut lasts before the device boots again. */
  powerOffMs?: number;
  /** History kept per session (oldest dropped first). */
  historyLimit?: number;
}

const defaultLayout = [
  { id: 'A01', size: 'S' }, { id: 'A02', size: 'S' }, { id: 'A03', size: 'M' }, { id: 'A04', size: 'M' },
  { id: 'A05', size: 'L' }, { id: 'A06', size: 'XL' },
] as const;

interface Order {
  summary: OrderSummary;
  timeline: TimelineEntry[];
  notifications: CustomerNotification[];
}

export class FakePanelPort implements PanelPort {
  readonly backend: PanelBackend;
  private readonly lockersById = new Map<string, FakeLocker>();
  private readonly listeners = new Set<{ lockerId: string | undefined; listener: (event: PanelEvent) => void }>();
  private readonly recent: PanelEvent[] = [];
  private readonly orders = new Map<string, Order>();
  private readonly credentials = new Set<string>();
  private counter = 0;
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: FakePanelPortOptions = {}) {
    this.now = options.now ?? Date.now;
    const specs = options.lockers ?? [
      { id: 'sim-berlin-1', name: 'Simulated locker sim-berlin-1', location: 'Berlin, Simulatorstraße 1', compartments: defaultLayout },
      { id: 'sim-hamburg-1', name: 'Simulated locker sim-hamburg-1', location: 'Hamburg, Hafenweg 2', compartments: defaultLayout },
    ];
    for (const spec of specs) {
      const hooks = {
        emit: (body: PanelEventBody) => this.emit(spec.id, body),
        now: () => this.now(),
        deposited: (parcel: FakeParcel) => this.deposited(parcel),
        collected: (parcel: FakeParcel) => this.transition(parcel.parcelId, 'delivered', 'collected', 'parcel.collected'),
        isCourierCredential: (token: string) => this.credentials.has(token),
        reslotted: (parcel: FakeParcel) => this.reslotted(parcel),
      };
      this.lockersById.set(spec.id, new FakeLocker(spec.id, spec.name, spec.location, spec.compartments, hooks));
    }
    this.backend = this.fakeBackend();
  }

  lockers(): Promise<LockerView[]> {
    return Promise.resolve([...this.lockersById.values()].map((l) => l.view()));
  }

  subscribe(listener: (event: PanelEvent) => void, lockerId?: string): Unsubscribe {
    const entry = { lockerId, listener };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  history(lockerId?: string): readonly PanelEvent[] {
    return this.recent.filter((e) => lockerId === undefined || e.lockerId === lockerId);
  }

  run(lockerId: string, commandLine: string): Promise<string[]> {
    const locker = this.lockersById.get(lockerId);
    if (locker === undefined) return Promise.reject(new UnknownLockerError(`no locker ${lockerId}`));
    try {
      const lines = locker.run(commandLine);
      if (/^\s*power-cut\b/.test(commandLine)) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          locker.powerOn();
        }, this.options.powerOffMs ?? 1_000);
        this.timers.add(timer);
      }
      return Promise.resolve(lines);
    } catch (err) {
      return Promise.resolve([err instanceof Error ? err.message : String(err)]);
    }
  }

  /** Drops pending timers (a scheduled power-on). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private emit(lockerId: string, body: PanelEventBody): void {
    const words = fakeWords(body);
    // Checked against the wire schema here, so a fake that drifts from it fails the tests.
    const event = PanelEvent.parse({ ...body, lockerId, at: this.now(), ...(words === undefined ? {} : { words }) });
    this.recent.push(event);
    if (this.recent.length > (this.options.historyLimit ?? 500)) this.recent.shift();
    for (const { lockerId: only, listener } of [...this.listeners]) {
      if (only !== undefined && only !== lockerId) continue;
      try {
        listener(event);
      } catch {
        // A streaming bug must not break the locker.
      }
    }
  }

  private next(prefix: string): string {
    this.counter += 1;
    return `${prefix}${String(this.counter).padStart(4, '0')}`;
  }

  private orderOfShipment(shipmentId: string): Order | undefined {
    return [...this.orders.values()].find((o) => o.summary.shipments.some((s) => s.id === shipmentId));
  }

  private transition(shipmentId: string, from: string, to: string, kind: string, extra: Partial<CustomerNotification> = {}): void {
    const order = this.orderOfShipment(shipmentId);
    const shipment = order?.summary.shipments.find((s) => s.id === shipmentId);
    if (order === undefined || shipment === undefined) return;
    const at = this.now();
    shipment.state = to;
    order.summary.state = to;
    order.timeline.push({ entity: 'shipment', entityId: shipmentId, from, to, event: kind, actor: 'locker', at });
    order.notifications.push({ id: this.next('ntf_'), kind, at, orderId: order.summary.id, shipmentId, ...extra });
  }

  /** The locker reports the new door; the backend moves the shipment there (decision 0024). */
  private reslotted(parcel: FakeParcel): void {
    const shipment = this.orderOfShipment(parcel.parcelId)?.summary.shipments.find((s) => s.id === parcel.parcelId);
    if (shipment !== undefined) shipment.compartmentId = parcel.compartmentId;
  }

  private deposited(parcel: FakeParcel): void {
    this.transition(parcel.parcelId, 'shipped', 'delivered', 'parcel.ready_for_pickup', { code: parcel.code, qrToken: parcel.qrToken });
  }

  private fakeBackend(): PanelBackend {
    const orderOf = (orderId: string): Order => {
      const order = this.orders.get(orderId);
      if (order === undefined) throw new PanelBackendError(`backend GET /orders/${orderId}: NOT_FOUND: no order ${orderId}`, 404);
      return order;
    };
    return {
      url: 'http://127.0.0.1:0/fake-backend',
      placeOrder: (input: PlaceOrderInput): Promise<PlacedOrder> => {
        const locker = this.lockersById.get(input.lockerId);
        if (locker === undefined) return Promise.reject(new PanelBackendError(`backend POST /reservations: NOT_FOUND: no locker ${input.lockerId}`, 404));
        const compartmentId = locker.reserve(input.size);
        if (compartmentId === undefined) return Promise.reject(new PanelBackendError(`backend POST /reservations: NO_CAPACITY: no free ${input.size} compartment`, 409));
        const orderId = this.next('ord_');
        const shipmentId = this.next('shp_');
        const n = this.counter;
        // Eight digits, distinct per parcel; the token is opaque to the page.
        const code = String(10_000_000 + ((n * 7_919_993) % 89_999_999));
        locker.addParcel({ parcelId: shipmentId, compartmentId, code, qrToken: `v4.public.fake-pickup-${String(n)}`, state: 'awaiting-deposit' });
        const at = this.now();
        const summary: OrderSummary = {
          id: orderId, state: 'shipped', customerName: input.customerName,
          shipments: [{ id: shipmentId, state: 'shipped', carrier: 'sim-post', trackingNumber: `PNL${String(n)}`, lockerId: input.lockerId, compartmentId, size: input.size }],
        };
        const timeline: TimelineEntry[] = [
          { entity: 'order', entityId: orderId, to: 'placed', event: 'place', actor: 'merchant', at },
          { entity: 'order', entityId: orderId, from: 'placed', to: 'shipped', event: 'ship', actor: 'merchant', at },
          { entity: 'shipment', entityId: shipmentId, to: 'shipped', event: 'create', actor: 'merchant', at },
        ];
        this.orders.set(orderId, { summary, timeline, notifications: [{ id: this.next('ntf_'), kind: 'order.placed', at, orderId }] });
        return Promise.resolve({ order: structuredClone(summary), shipmentId, compartmentId });
      },
      order: (orderId) => attempt(() => structuredClone(orderOf(orderId).summary)),
      timeline: (orderId) => attempt(() => structuredClone(orderOf(orderId).timeline)),
      notifications: (orderId) => attempt(() => structuredClone(orderOf(orderId).notifications)),
      courierCredential: (lockerId): Promise<CourierCredential> => {
        if (!this.lockersById.has(lockerId)) return Promise.reject(new PanelBackendError(`no locker ${lockerId}`, 404));
        const token = `v4.public.fake-courier-${this.next('')}`;
        this.credentials.add(token);
        return Promise.resolve({ token, expiresAt: this.now() + 3_600_000 });
      },
    };
  }
}

/** A synchronous answer as a promise, a throw as a rejection (what an async backend does). */
function attempt<T>(answer: () => T): Promise<T> {
  try {
    return Promise.resolve(answer());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
