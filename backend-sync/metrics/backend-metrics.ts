import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeviceHealthWire } from '../shared/contract.js';
import type { CodeSetRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { perLockerText, yieldToLoop } from './per-locker-text.js';

// Prometheus metrics (GET /metrics). Gauges are computed at scrape time from the store, so
// every backend instance reports the same fleet picture and nothing drifts in memory; the
// rejection counter counts what this process's bridge refused. The per-locker figures come from the
// locker's own health report, so the backend shows what the locker itself measured.
//
// A scrape reads the fleet once (lockers and health reports a page at a time, handing the
// event loop back between pages; the code sets; the outbox backlog) and every gauge is set
// from that one snapshot. Fleet-wide gauges go through prom-client; the per-locker families are
// written from the snapshot by per-locker-text.ts, which yields as it goes: at 10,000
// lockers a scrape used to block the event loop for 1.1–1.3 s (a statement per locker's
// health, then prom-client's synchronous render of ~160,000 series).

interface FleetSnapshot {
  lockers: Array<{ id: string; online: boolean }>;
  health: Map<string, DeviceHealthWire>;
  codeSets: CodeSetRecord[];
  notificationBacklog: number;
  refundsFailed: number;
}

const PAGE = 500;

async function readFleet(store: Store): Promise<FleetSnapshot> {
  const lockers: FleetSnapshot['lockers'] = [];
  for (let afterId: string | undefined; ; ) {
    const page = await store.lockers.list(afterId === undefined ? { limit: PAGE } : { afterId, limit: PAGE });
    for (const l of page) lockers.push({ id: l.id, online: l.online });
    if (page.length < PAGE) break;
    afterId = page[page.length - 1]?.id;
    await yieldToLoop();
  }
  const health = new Map<string, DeviceHealthWire>();
  for (let afterId = ''; ; ) {
    await yieldToLoop();
    const page = await store.lockerHealth.page(afterId, PAGE);
    for (const h of page) health.set(h.lockerId, h.health);
    if (page.length < PAGE) break;
    afterId = page[page.length - 1]?.lockerId ?? afterId;
  }
  await yieldToLoop();
  return { lockers, health, codeSets: await store.codeSets.all(), notificationBacklog: await store.notifications.backlog(), refundsFailed: await store.refunds.countFailed() };
}

export interface BackendMetricsDeps {
  store: Store;
  /** The bridge's running count of rejected locker messages, by reason. */
  rejections: () => ReadonlyMap<string, number>;
  /** Whether this instance has a signing key it may use (KeyStore.signingAvailable). */
  signingAvailable?: (() => boolean) | undefined;
}

export class BackendMetrics {
  readonly registry = new Registry();
  private fleet: FleetSnapshot = { lockers: [], health: new Map(), codeSets: [], notificationBacklog: 0, refundsFailed: 0 };

  constructor(private readonly deps: BackendMetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'backend_' });
    const counted = new Map<string, number>();
    const { rejections } = deps;
    new Counter({
      name: 'backend_mqtt_messages_rejected_total',
      help: 'Locker messages this instance rejected (invalid, forged, unknown locker…), by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        for (const [reason, n] of rejections()) {
          const delta = n - (counted.get(reason) ?? 0);
          if (delta > 0) this.inc({ reason }, delta);
          counted.set(reason, n);
        }
      },
    });

    const fleet = (): FleetSnapshot => this.fleet;
    new Gauge({
      name: 'locker_lockers',
      help: 'Registered lockers by presence (online or offline)',
      labelNames: ['presence'],
      registers,
      collect() {
        const { lockers } = fleet();
        const online = lockers.filter((l) => l.online).length;
        this.set({ presence: 'online' }, online);
        this.set({ presence: 'offline' }, lockers.length - online);
      },
    });
    const { signingAvailable } = deps;
    new Gauge({
      name: 'backend_signing_available',
      help: 'Whether this instance can sign tokens and code batches (0: its key was revoked and the keys directory lacks the active key of the fleet)',
      registers,
      collect() {
        this.set(signingAvailable === undefined || signingAvailable() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'backend_notification_backlog',
      help: 'Customer notifications waiting to be sent',
      registers,
      collect() {
        this.set(fleet().notificationBacklog);
      },
    });
    new Gauge({
      name: 'backend_refunds_failed',
      help: 'Refunds the payment provider declined that no operator sent again yet (GET /admin/refunds?state=failed)',
      registers,
      collect() {
        this.set(fleet().refundsFailed);
      },
    });
  }

  /** One scrape: reads the fleet from the store, then renders every metric from it. */
  async render(): Promise<string> {
    const fleet = await readFleet(this.deps.store);
    this.fleet = fleet;
    const fleetWide = await this.registry.metrics();
    // This scrape's own snapshot: another scrape may have replaced this.fleet meanwhile.
    return `${fleetWide}${fleetWide.endsWith('\n') ? '' : '\n'}${await perLockerText(fleet)}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
