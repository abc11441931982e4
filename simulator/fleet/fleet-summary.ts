import type { Fleet } from './fleet.js';
import { fmtMs } from './latency-samples.js';
import type { LoadDriver } from './load-driver.js';
import { expectedNotices } from './parcel-flow.js';

// The end of a fleet run: waits (bounded) for what is still on its way — audit acks,
// notifications — then counts what was lost or duplicated, and formats it. The live
// status line is here too, so both read the same figures.

export interface FleetSummary {
  lockers: number;
  workers: number;
  seconds: number;
  interrupted: boolean;
  lockersOnline: number;
  parcels: { started: number; collected: number; leftInLocker: number; failed: number; skippedFull: number };
  ops: { deposits: number; pickups: number; failed: number; perSecond: number };
  errors: number;
  firstErrors: string[];
  latencyMs: { keypadToRelay: { p50?: number; p99?: number; n: number }; api: { p50?: number; p99?: number; n: number } };
  notifications: { expected: number; got: number; lost: number; duplicated: number; redelivered: number; rejected: number };
  audit: { written: number; acked: number; ingested?: number; lost: number; duplicated: number };
  rssMbPerLocker: number;
  /** Nothing lost or duplicated and every operation succeeded. */
  ok: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function summarise(fleet: Fleet, load: LoadDriver, o: { seconds: number; interrupted: boolean; settleMs: number }): Promise<FleetSummary> {
  const deadline = Date.now() + o.settleMs;
  // Audit the lockers wrote reaches the backend shortly after the last door closed.
  let stats = await fleet.pool.stats();
  while (stats.auditAcked < stats.auditWritten && Date.now() < deadline) {
    await sleep(250);
    stats = await fleet.pool.stats();
  }
  const owed = load.parcels.flatMap(expectedNotices);
  const missing = (): number => owed.filter((n) => !fleet.notices.has(n.kind, n.id)).length;
  while (missing() > 0 && Date.now() < deadline) await sleep(250);
  const lost = missing();

  let ingested: number | undefined;
  const backend = fleet.backend;
  if (backend.auditIngested !== undefined) {
    ingested = 0;
    for (const id of fleet.lockerIds) ingested += await backend.auditIngested(id);
  }
  const auditLost = Math.max(0, stats.auditWritten - stats.auditAcked, ingested === undefined ? 0 : stats.auditWritten - ingested);
  const auditDuplicated = ingested === undefined ? 0 : Math.max(0, ingested - stats.auditWritten);
  const c = load.counters;
  const collected = load.parcels.filter((p) => p.stage === 'collected').length;
  const duplicated = fleet.notices.duplicatedSubjects();
  const errors = c.parcelsFailed + fleet.pool.failures().length;
  const lockersOnline = await fleet.backendReady();
  return {
    lockers: fleet.lockerIds.length,
    workers: fleet.pool.size,
    seconds: Math.round(o.seconds * 10) / 10,
    interrupted: o.interrupted,
    lockersOnline,
    parcels: { started: c.parcelsStarted, collected, leftInLocker: load.parcels.filter((p) => p.stage === 'deposited' && !p.pickup).length, failed: c.parcelsFailed, skippedFull: c.skippedFull },
    ops: { deposits: c.depositsOk, pickups: c.pickupsOk, failed: c.depositsFailed + c.pickupsFailed, perSecond: Math.round((load.opsDone / Math.max(0.001, o.seconds)) * 10) / 10 },
    errors,
    firstErrors: [...load.errors, ...fleet.pool.failures()].slice(0, 20),
    latencyMs: {
      keypadToRelay: { ...pct(load.keypadToRelay.percentile(50), load.keypadToRelay.percentile(99)), n: load.keypadToRelay.count },
      api: { ...pct(fleet.api.latency.percentile(50), fleet.api.latency.percentile(99)), n: fleet.api.latency.count },
    },
    notifications: { expected: owed.length, got: owed.length - lost, lost, duplicated, redelivered: fleet.sink.duplicates(), rejected: fleet.sink.rejected.length },
    audit: { written: stats.auditWritten, acked: stats.auditAcked, ...(ingested === undefined ? {} : { ingested }), lost: auditLost, duplicated: auditDuplicated },
    rssMbPerLocker: Math.round((stats.rssBytes / Math.max(1, stats.lockers) / 1e6) * 100) / 100,
    ok: lost === 0 && duplicated === 0 && auditLost === 0 && auditDuplicated === 0 && errors === 0 && fleet.sink.rejected.length === 0,
  };
}

function pct(p50: number | undefined, p99: number | undefined): { p50?: number; p99?: number } {
  const round = (v: number): number => Math.round(v * 100) / 100;
  return { ...(p50 === undefined ? {} : { p50: round(p50) }), ...(p99 === undefined ? {} : { p99: round(p99) }) };
}

export function formatSummary(s: FleetSummary): string[] {
  const ms = (v: number | undefined): string => `${fmtMs(v)} ms`;
  return [
    `fleet summary${s.interrupted ? ' (interrupted)' : ''}: ${String(s.lockers)} lockers in ${String(s.workers)} worker(s), ${String(s.seconds)} s, ${String(s.lockersOnline)} online with current codes at the end`,
    `  operations: ${String(s.ops.deposits)} deposits, ${String(s.ops.pickups)} pickups (${String(s.ops.perSecond)}/s), ${String(s.ops.failed)} failed`,
    `  parcels: ${String(s.parcels.started)} started, ${String(s.parcels.collected)} collected, ${String(s.parcels.leftInLocker)} left in lockers, ${String(s.parcels.failed)} failed, ${String(s.parcels.skippedFull)} not started (lockers full)`,
    `  latency: keypad→relay p50 ${ms(s.latencyMs.keypadToRelay.p50)} p99 ${ms(s.latencyMs.keypadToRelay.p99)} (${String(s.latencyMs.keypadToRelay.n)}); API p50 ${ms(s.latencyMs.api.p50)} p99 ${ms(s.latencyMs.api.p99)} (${String(s.latencyMs.api.n)} calls)`,
    `  notifications: ${String(s.notifications.got)}/${String(s.notifications.expected)} expected received, ${String(s.notifications.lost)} lost, ${String(s.notifications.duplicated)} duplicated, ${String(s.notifications.redelivered)} redelivered (same id), ${String(s.notifications.rejected)} rejected`,
    `  audit events: ${String(s.audit.written)} written by lockers, ${String(s.audit.acked)} acked${s.audit.ingested === undefined ? '' : `, ${String(s.audit.ingested)} ingested by the backend`}; ${String(s.audit.lost)} lost, ${String(s.audit.duplicated)} duplicated`,
    `  memory: ${String(s.rssMbPerLocker)} MB RSS per locker (workers' RSS / lockers)`,
    ...s.firstErrors.map((e) => `  error: ${e}`),
    `fleet result: ${s.ok ? 'OK' : 'FAILED'} (errors ${String(s.errors)}, lost ${String(s.notifications.lost + s.audit.lost)}, duplicated ${String(s.notifications.duplicated + s.audit.duplicated)})`,
  ];
}

/** One status line: what a person watching wants every second. */
export function statusLine(o: { elapsedS: number; online: number; lockers: number; load: LoadDriver; apiP50?: number | undefined; apiP99?: number | undefined }): string {
  const k = o.load.keypadToRelay;
  return (
    `fleet t=${String(Math.round(o.elapsedS))}s online=${String(o.online)}/${String(o.lockers)} ops=${String(o.load.opsDone)} errors=${String(o.load.errorCount)} ` +
    `keypad_p50=${fmtMs(k.percentile(50))}ms keypad_p99=${fmtMs(k.percentile(99))}ms api_p50=${fmtMs(o.apiP50)}ms api_p99=${fmtMs(o.apiP99)}ms`
  );
}
