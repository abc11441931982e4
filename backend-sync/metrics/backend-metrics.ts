import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeviceHealthWire } from '../shared/contract.js';
import type { CodeSetRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

// Prometheus metrics (GET /metrics). Gauges are computed at scrape time from the store, so
// every backend instance reports the same fleet picture and nothing drifts in memory; the
// rejection counter counts what this process's bridge refused. The per-locker figures come from the
// locker's own health report, so the backend shows what the locker itself measured.
//
// A scrape reads the fleet once (lockers a page at a time, each locker's health, the code
// sets, the outbox backlog) and every gauge is set from that one snapshot: the store is
// asynchronous, and a dozen gauges each walking every locker would multiply the queries.

interface FleetSnapshot {
  lockers: Array<{ id: string; online: boolean }>;
  health: Map<string, DeviceHealthWire>;
  codeSets: CodeSetRecord[];
  notificationBacklog: number;
}

const LOCKER_PAGE = 500;

async function readFleet(store: Store): Promise<FleetSnapshot> {
  const lockers: FleetSnapshot['lockers'] = [];
  for (let afterId: string | undefined; ; ) {
    const page = await store.lockers.list(afterId === undefined ? { limit: LOCKER_PAGE } : { afterId, limit: LOCKER_PAGE });
    for (const l of page) lockers.push({ id: l.id, online: l.online });
    if (page.length < LOCKER_PAGE) break;
    afterId = page[page.length - 1]?.id;
  }
  const health = new Map<string, DeviceHealthWire>();
  for (const { id } of lockers) {
    const h = await store.lockerHealth.get(id);
    if (h !== undefined) health.set(id, h.health);
  }
  return { lockers, health, codeSets: await store.codeSets.all(), notificationBacklog: await store.notifications.backlog() };
}

export interface BackendMetricsDeps {
  store: Store;
  /** The bridge's running count of rejected locker messages, by reason. */
  rejections: () => ReadonlyMap<string, number>;
}

export class BackendMetrics {
  readonly registry = new Registry();
  private fleet: FleetSnapshot = { lockers: [], health: new Map(), codeSets: [], notificationBacklog: 0 };

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
    new Gauge({
      name: 'locker_code_set_lag_versions',
      help: 'Code-set versions the backend holds that the locker has not acknowledged',
      labelNames: ['locker'],
      registers,
      collect() {
        this.reset();
        for (const s of fleet().codeSets) this.set({ locker: s.lockerId }, Math.max(0, s.version - s.ackedVersion));
      },
    });
    // With locker_code_set_version_reported (what the locker says it holds), lag can be
    // computed from the locker's own word as well as from its acks.
    new Gauge({
      name: 'locker_code_set_version_latest',
      help: 'Latest code-set version the backend holds for the locker',
      labelNames: ['locker'],
      registers,
      collect() {
        this.reset();
        for (const s of fleet().codeSets) this.set({ locker: s.lockerId }, s.version);
      },
    });
    // A figure an older locker does not report (undefined) is left out, not shown as 0.
    const fromHealth = (name: string, help: string, read: (h: DeviceHealthWire) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ['locker'],
        registers,
        collect() {
          this.reset();
          for (const [id, h] of fleet().health) {
            const v = read(h);
            if (v !== undefined) this.set({ locker: id }, v);
          }
        },
      });
    };
    const byReasonFromHealth = (name: string, help: string, read: (h: DeviceHealthWire) => Readonly<Record<string, number>> | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ['locker', 'reason'],
        registers,
        collect() {
          this.reset();
          for (const [id, h] of fleet().health) {
            for (const [reason, n] of Object.entries(read(h) ?? {})) this.set({ locker: id, reason }, n);
          }
        },
      });
    };
    fromHealth('locker_audit_outbox_backlog', 'Audit records the locker holds that the backend has not acknowledged (its last health report)', (h) => h.auditBacklog);
    fromHealth('locker_lockout_active', '1 while the locker keypad is locked out after wrong codes (its last health report)', (h) => (h.lockout.active ? 1 : 0));
    fromHealth('locker_lockout_failures', 'Wrong codes counted toward the keypad lockout (its last health report)', (h) => h.lockout.failures);
    fromHealth('locker_door_faults', 'Compartments out of service or with a door sensor that cannot tell (its last health report)', (h) => h.compartments.filter((c) => c.status === 'out-of-service' || c.door === 'unknown').length);
    fromHealth('locker_live_codes', 'Pickup codes live on the locker (its last health report)', (h) => h.liveCodes);
    fromHealth('locker_codes_awaiting_deposit', 'Keypad codes for parcels not yet deposited (its last health report)', (h) => h.awaitingDeposit);
    fromHealth('locker_code_set_version_reported', 'Code-set version the locker says it holds (its last health report)', (h) => h.codeSetVersion);
    byReasonFromHealth('locker_rejected_messages', 'Inbound messages the locker rejected since its boot, by reason (its last health report)', (h) => h.rejectedMessages);
    fromHealth('locker_rejection_audits_suppressed', 'Security rejections the locker counted but has not yet audited (rate limit; its last health report)', (h) => h.rejectionAuditsSuppressed);
    fromHealth('locker_lockouts', 'Keypad lockouts begun since the locker\'s boot (its last health report)', (h) => h.lockouts);
    byReasonFromHealth('locker_door_failures', 'Door failures since the locker\'s boot, by kind: jammed, relay-fault, sensor-unknown (its last health report)', (h) => h.doorFailures);
    new Gauge({
      name: 'backend_notification_backlog',
      help: 'Customer notifications waiting to be sent',
      registers,
      collect() {
        this.set(fleet().notificationBacklog);
      },
    });
  }

  /** One scrape: reads the fleet from the store, then renders every metric from it. */
  async render(): Promise<string> {
    this.fleet = await readFleet(this.deps.store);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
