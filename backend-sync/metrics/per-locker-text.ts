import type { DeviceHealthWire } from '../shared/contract.js';
import type { CodeSetRecord } from '../store/records.js';

// The per-locker gauges of GET /metrics, written as Prometheus text straight from the
// scrape's snapshot. prom-client keeps a labelled child for every series (10,000 lockers ×
// 16 families ≈ 160,000) and renders them in one synchronous pass: measured at 570–670 ms of
// blocked event loop a scrape at estate scale, every API request waiting behind it. Here a
// family is a loop over the snapshot that hands the event loop back every CHUNK lockers.

const CHUNK = 500;

export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

type Labels = ReadonlyArray<readonly [string, string]>;

interface Family {
  name: string;
  help: string;
  /** The family's samples for one locker: label pairs after `locker`, and the value. */
  samples: (lockerId: string) => Iterable<readonly [Labels, number]>;
  lockers: () => Iterable<string>;
}

export interface PerLockerSnapshot {
  health: ReadonlyMap<string, DeviceHealthWire>;
  codeSets: readonly CodeSetRecord[];
}

/** Label values as the exposition format wants them: backslash, quote and newline escaped. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function helpText(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function sampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function families(s: PerLockerSnapshot): Family[] {
  const bySet = new Map(s.codeSets.map((c) => [c.lockerId, c]));
  const healthLockers = (): Iterable<string> => s.health.keys();
  const setLockers = (): Iterable<string> => bySet.keys();
  // A figure an older locker does not report (undefined) is left out, not shown as 0.
  const fromHealth = (name: string, help: string, read: (h: DeviceHealthWire) => number | undefined): Family => ({
    name,
    help,
    lockers: healthLockers,
    *samples(id) {
      const h = s.health.get(id);
      const v = h === undefined ? undefined : read(h);
      if (v !== undefined) yield [[], v] as const;
    },
  });
  const byReasonFromHealth = (name: string, help: string, read: (h: DeviceHealthWire) => Readonly<Record<string, number>> | undefined): Family => ({
    name,
    help,
    lockers: healthLockers,
    *samples(id) {
      const h = s.health.get(id);
      for (const [reason, n] of Object.entries((h === undefined ? undefined : read(h)) ?? {})) yield [[['reason', reason]], n] as const;
    },
  });
  const fromCodeSet = (name: string, help: string, read: (c: CodeSetRecord) => number): Family => ({
    name,
    help,
    lockers: setLockers,
    *samples(id) {
      const c = bySet.get(id);
      if (c !== undefined) yield [[], read(c)] as const;
    },
  });
  return [
    fromCodeSet('locker_code_set_lag_versions', 'Code-set versions the backend holds that the locker has not acknowledged', (c) => Math.max(0, c.version - c.ackedVersion)),
    // With locker_code_set_version_reported (what the locker says it holds), lag can be
    // computed from the locker's own word as well as from its acks.
    fromCodeSet('locker_code_set_version_latest', 'Latest code-set version the backend holds for the locker', (c) => c.version),
    fromHealth('locker_audit_outbox_backlog', 'Audit records the locker holds that the backend has not acknowledged (its last health report)', (h) => h.auditBacklog),
    fromHealth('locker_lockout_active', '1 while the locker keypad is locked out after wrong codes (its last health report)', (h) => (h.lockout.active ? 1 : 0)),
    fromHealth('locker_lockout_failures', 'Wrong codes counted toward the keypad lockout (its last health report)', (h) => h.lockout.failures),
    fromHealth('locker_door_faults', 'Compartments out of service or with a door sensor that cannot tell (its last health report)', (h) => h.compartments.filter((c) => c.status === 'out-of-service' || c.door === 'unknown').length),
    fromHealth('locker_live_codes', 'Pickup codes live on the locker (its last health report)', (h) => h.liveCodes),
    fromHealth('locker_codes_awaiting_deposit', 'Keypad codes for parcels not yet deposited (its last health report)', (h) => h.awaitingDeposit),
    fromHealth('locker_code_set_version_reported', 'Code-set version the locker says it holds (its last health report)', (h) => h.codeSetVersion),
    byReasonFromHealth('locker_rejected_messages', 'Inbound messages the locker rejected since its boot, by reason (its last health report)', (h) => h.rejectedMessages),
    fromHealth('locker_rejection_audits_suppressed', 'Security rejections the locker counted but has not yet audited (rate limit; its last health report)', (h) => h.rejectionAuditsSuppressed),
    fromHealth('locker_lockouts', "Keypad lockouts begun since the locker's boot (its last health report)", (h) => h.lockouts),
    byReasonFromHealth('locker_door_failures', "Door failures since the locker's boot, by kind: jammed, relay-fault, sensor-unknown (its last health report)", (h) => h.doorFailures),
  ];
}

/** Every per-locker gauge family, in the exposition format, yielding to the event loop as it goes. */
export async function perLockerText(s: PerLockerSnapshot): Promise<string> {
  const out: string[] = [];
  for (const f of families(s)) {
    out.push(`# HELP ${f.name} ${helpText(f.help)}\n# TYPE ${f.name} gauge\n`);
    let n = 0;
    for (const id of f.lockers()) {
      const locker = `locker="${labelValue(id)}"`;
      for (const [labels, value] of f.samples(id)) {
        const rest = labels.map(([k, v]) => `,${k}="${labelValue(v)}"`).join('');
        out.push(`${f.name}{${locker}${rest}} ${sampleValue(value)}\n`);
      }
      if (++n % CHUNK === 0) await yieldToLoop();
    }
  }
  return out.join('');
}
