import type { LockerSim } from './locker-sim.js';

// Text for the console's status, display and audit commands. Reads the same state the
// runtime uses (the store, the drivers); shows ids, states and digests' versions only,
// never a code or a token.

/** What the running stack can report beyond the store and drivers. */
export interface RuntimeView {
  /** The keypad lockout, from the device runtime's health. */
  lockout(): { active: boolean; until?: number; failures: number } | undefined;
  /** The sync agent, when the locker is online. */
  sync(): { connected: boolean; auditRecordsSent: number; rejections: number; restarts: number } | undefined;
  /** The backend's view of this locker, when one runs (read from its store). */
  backend(): Promise<{ url: string; codeSetVersion: number; ackedVersion: number; online: boolean } | undefined>;
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export async function statusReport(sim: LockerSim, view?: RuntimeView): Promise<string[]> {
  const { store, control, hardware } = sim;
  const rows = store.listCompartments();
  const lines = [`locker ${sim.lockerId}  (data dir ${sim.paths.root})`];
  lines.push('  id   size status          door     relay  latch     parcel          faults');
  for (const row of rows) {
    const simulated = control.compartmentIds().includes(row.id);
    const door = simulated ? hardware.doors.read(row.id) : 'n/a';
    const relay = simulated && control.energised(row.id) ? 'ON' : 'off';
    const latch = !simulated ? 'n/a' : control.latched(row.id) ? 'latched' : control.doorIsOpen(row.id) ? 'open' : 'released';
    const faults = simulated ? control.faults(row.id).join(',') : '';
    const status = row.status === 'out-of-service' ? `out(${row.outOfServiceReason ?? '?'})` : row.status;
    lines.push(
      `  ${row.id.padEnd(4)} ${row.size.padEnd(4)} ${status.padEnd(15)} ${door.padEnd(8)} ${relay.padEnd(6)} ${latch.padEnd(9)} ${(row.parcelId ?? '-').padEnd(15)} ${faults || '-'}`,
    );
  }
  const codeSet = store.codeSetState();
  lines.push(`code set: version ${String(codeSet.version)}, digest ${codeSet.digest.slice(0, 16)}…, ${String(store.liveCodeCount())} live codes`);
  lines.push(`audit: ${String(store.auditHighWatermark())} records written, acknowledged by the backend up to ${String(store.auditAckedWatermark())}`);
  const sync = view?.sync();
  if (sync === undefined) lines.push('sync: offline locker (no sync agent)');
  else lines.push(`sync: ${sync.connected ? 'connected' : 'NOT connected'} to the broker, ${String(sync.auditRecordsSent)} audit records sent, ${String(sync.rejections)} messages rejected, ${String(sync.restarts)} agent restarts`);
  const backend = await view?.backend();
  if (backend !== undefined) {
    lines.push(`backend ${backend.url}: sees the locker ${backend.online ? 'online' : 'OFFLINE'}, code set version ${String(backend.codeSetVersion)}, acknowledged by the locker: ${String(backend.ackedVersion)}`);
  }
  const state = view?.lockout();
  if (state === undefined) lines.push('keypad lockout: not reported by this runtime');
  else if (state.active) lines.push(`keypad lockout: ACTIVE until ${state.until === undefined ? '?' : time(state.until)} (${String(state.failures)} failures)`);
  else lines.push(`keypad lockout: none (${String(state.failures)} recent failures)`);
  lines.push(`clock: ${time(hardware.clock.now())} UTC, trusted floor ${store.clockFloor() > 0 ? time(store.clockFloor()) : 'not set'}`);
  return lines;
}

export function displayReport(sim: LockerSim, count: number): string[] {
  const history = sim.control.indicator.history().filter((e) => e.type === 'message').slice(-count);
  if (history.length === 0) return ['(nothing shown yet)'];
  return history.map((e) => (e.type === 'message' ? `${time(e.at)}  [${e.message.tone}] ${e.message.text}` : ''));
}

interface AuditRow {
  seq: number;
  at: number;
  type: string;
  lane: string;
  data_json: string;
  acked: number;
}

/**
 * The last records of the audit log, acknowledged or not. A read-only maintenance query
 * on the store's connection (the RuntimeStore interface only reads the unacked outbox).
 * The log never holds a code or a token: the store refuses such data on append.
 */
export function auditReport(sim: LockerSim, count: number): string[] {
  const rows = sim.store.database
    .prepare<[number], AuditRow>('SELECT seq, at, type, lane, data_json, acked FROM audit_log ORDER BY seq DESC LIMIT ?')
    .all(count)
    .reverse();
  if (rows.length === 0) return ['(audit log is empty)'];
  return rows.map(
    (r) => `#${String(r.seq).padStart(5)} ${time(r.at)} ${r.lane === 'priority' ? '!' : ' '} ${r.type.padEnd(28)} ${r.data_json}${r.acked === 1 ? '  (acked)' : ''}`,
  );
}

export function auditChainReport(sim: LockerSim): string {
  const check = sim.store.verifyAuditChain();
  return check.ok
    ? `audit chain: VALID (${String(check.records)} records, seq ${String(check.firstSeq)}..${String(check.lastSeq)})`
    : `audit chain: BROKEN at seq ${String(check.brokenAtSeq)} (${check.reason})`;
}
