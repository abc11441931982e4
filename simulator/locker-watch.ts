import type { LockerSim } from './locker-sim.js';
import { announcementsOfAudit, type AlarmKind, type SessionEvent } from './session-events.js';
import type { RuntimeView } from './status-report.js';

// Turns what the device persisted and reports into session events: every audit record
// appended (and the alarms and re-slots it announces), compartment status changes,
// online/offline, code-set version, outbox backlog, lockout. Read from the store and the
// runtime's health on a short poll (and on demand after each command), never by hooking
// the runtime: the device runs exactly as on a board. Nothing is read while the power is off.

interface AuditRow {
  seq: number;
  at: number;
  type: string;
  lane: string;
  data_json: string;
}

interface Seen {
  auditSeq: number;
  compartments: Map<string, string>;
  online: boolean | undefined;
  codeSet: number | undefined;
  backlog: number | undefined;
  lockout: string | undefined;
}

/** Alarms about a door that a closed door ends. */
const doorAlarms: ReadonlySet<AlarmKind> = new Set(['left-open', 'uncommanded-open']);

export class LockerWatch {
  private readonly seen: Seen;
  /** `${compartmentId}|${alarm}` raised and not yet ended. */
  private readonly doorAlarms = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sim: LockerSim,
    private readonly view: RuntimeView,
    private readonly emit: (event: SessionEvent) => void,
  ) {
    // Records from before this session are history, not news.
    this.seen = {
      auditSeq: sim.store.auditHighWatermark(),
      compartments: new Map(sim.store.listCompartments().map((c) => [c.id, c.status])),
      online: undefined,
      codeSet: sim.store.codeSetState().version,
      backlog: undefined,
      lockout: undefined,
    };
  }

  start(everyMs = 100): void {
    this.timer ??= setInterval(() => this.poll(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads now and emits what changed since the last read. */
  poll(): void {
    if (!this.sim.running) return;
    const { sim, seen } = this;
    const lockerId = sim.lockerId;
    const at = sim.hardware.clock.now();
    try {
      const rows = sim.store.database
        .prepare<[number], AuditRow>('SELECT seq, at, type, lane, data_json FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 1000')
        .all(seen.auditSeq);
      for (const row of rows) {
        seen.auditSeq = row.seq;
        const data = parseData(row.data_json);
        this.emit({ lockerId, at: row.at, type: 'audit', seq: row.seq, auditType: row.type, lane: row.lane, data });
        for (const event of announcementsOfAudit(lockerId, row.at, row.type, data)) {
          if (event.type === 'alarm' && event.compartmentId !== undefined && doorAlarms.has(event.alarm)) this.doorAlarms.add(`${event.compartmentId}|${event.alarm}`);
          this.emit(event);
        }
        // A door alarm (left open, opened without a command) ends when that door is closed.
        const closed = row.type === 'door.closed' && typeof data['compartmentId'] === 'string' ? data['compartmentId'] : undefined;
        if (closed !== undefined) {
          for (const alarm of doorAlarms) {
            if (this.doorAlarms.delete(`${closed}|${alarm}`)) this.emit({ lockerId, at: row.at, type: 'alarm', compartmentId: closed, alarm, active: false });
          }
        }
      }
      for (const c of sim.store.listCompartments()) {
        const before = seen.compartments.get(c.id);
        if (before === c.status) continue;
        seen.compartments.set(c.id, c.status);
        this.emit({ lockerId, at, type: 'compartment', compartmentId: c.id, status: c.status, ...(c.parcelId === undefined ? {} : { parcelId: c.parcelId }) });
        if (before === 'out-of-service') this.emit({ lockerId, at, type: 'alarm', compartmentId: c.id, alarm: 'out-of-service', active: false });
      }
      const version = sim.store.codeSetState().version;
      if (version !== seen.codeSet) {
        seen.codeSet = version;
        this.emit({ lockerId, at, type: 'code-set', version });
      }
      const backlog = sim.store.auditHighWatermark() - sim.store.auditAckedWatermark();
      if (backlog !== seen.backlog) {
        seen.backlog = backlog;
        this.emit({ lockerId, at, type: 'outbox', backlog });
      }
    } catch {
      // The store closed under us (a power cut between two reads): the next boot reads again.
      return;
    }
    const online = this.view.sync()?.connected;
    // Not connected yet at start is not news; losing a connection is.
    if (online !== undefined && online !== seen.online && !(seen.online === undefined && !online)) {
      seen.online = online;
      this.emit({ lockerId, at, type: 'online', online });
    }
    const lockout = this.view.lockout();
    if (lockout !== undefined) {
      const key = `${String(lockout.active)}`;
      if (key !== seen.lockout) {
        const first = seen.lockout === undefined;
        seen.lockout = key;
        if (!(first && !lockout.active)) {
          this.emit({ lockerId, at, type: 'lockout', active: lockout.active, failures: lockout.failures, ...(lockout.until === undefined ? {} : { until: lockout.until }) });
        }
      }
    }
  }

  /** After a power cut the agent is gone: the next connection is news again. */
  forgetConnection(): void {
    this.seen.online = undefined;
  }
}

function parseData(json: string): Record<string, unknown> {
  try {
    const value = JSON.parse(json) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
