// Device storage over a year (run: npm run bench -- device-storage). The issue's target:
// 200 parcels a day for 365 simulated days, device database <= 50 MB and flat in steady
// state. A fake clock drives the store through ordinary locker life (daily code batch with
// the backend's expiry revocations, deposits, pickups, 1 in 10 parcels expiring and
// retrieved, open journal, audit records acknowledged as the sync agent would) and every
// simulated hour runs what the device schedules: the runtime's retention sweep with the
// default config (device/config.ts retention) and the agent's acknowledged-audit prune
// with its defaults (sync/agent/sync-config.ts audit). File sizes are taken after a
// wal_checkpoint(TRUNCATE): the database file alone, returned to the file system by the
// sweep's incremental_vacuum (no VACUUM ever runs).
// The file lives in /dev/shm when there is one, with synchronous=NORMAL: the year's ~30k
// commits would otherwise wait for a disk shared by everything on the machine; the file's
// content and size do not depend on either (the commit cost is device-store.bench.ts).
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { RetentionConfig } from '@locker/device/config.js';
import { silentLogger } from '@locker/device/logger.js';
import { RetentionSweep } from '@locker/device/runtime/retention-sweep.js';
import { LockerYearSimulation } from '@locker/device/store/locker-year-simulation.js';
import { openTestStore } from '@locker/device/store/store-test-fixtures.js';
import { SyncAgentConfig } from '@locker/sync-agent/sync-config.js';
import { print } from './bench-kit.js';

const DAY = 86_400_000;
const DAYS = 365;
const PARCELS_PER_DAY = 200;
/** Issue to exp: deposit the next morning, then a pickup window of about a week. */
const TOKEN_LIFETIME_MS = 8 * DAY;

const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'device-storage-bench-'));
const path = join(dir, 'device.db');
const clock = new FakeClock();
const store = openTestStore(path, clock);
store.database.pragma('synchronous = NORMAL');
const retention = RetentionConfig.parse({});
const audit = SyncAgentConfig.parse({ firmwareVersion: 'bench' }).audit;
const sweep = new RetentionSweep(store, retention, silentLogger());
let sinceSweep = 0;
let sinceAuditPrune = 0;
const HOUR = 3_600_000;
const sim = new LockerYearSimulation({
  clock,
  store: () => store,
  parcelsPerDay: PARCELS_PER_DAY,
  tokenLifetimeMs: TOKEN_LIFETIME_MS,
  uncollectedEvery: 10,
  onHour: () => {
    sinceSweep += HOUR;
    sinceAuditPrune += HOUR;
    if (sinceSweep >= retention.sweepEveryMs) {
      sinceSweep = 0;
      sweep.run();
    }
    if (sinceAuditPrune >= audit.pruneEveryMs) {
      sinceAuditPrune = 0;
      store.pruneAcknowledgedAudit(audit.retentionMs);
    }
  },
});

function fileMb(): number {
  store.checkpoint();
  return statSync(path).size / (1024 * 1024);
}

const mb = (v: number): number => Number(v.toFixed(2));
const started = performance.now();
const samples: Array<{ day: number; mb: number }> = [];
for (let day = 1; day <= DAYS; day++) {
  sim.day();
  if (day % 15 === 0 || day === 180 || day === DAYS) samples.push({ day, mb: fileMb() });
}
const seconds = (performance.now() - started) / 1000;

const at = (day: number): number => samples.find((s) => s.day === day)?.mb ?? Number.NaN;
const steady = samples.filter((s) => s.day >= 180).map((s) => s.mb);
const rows = (table: string): number => store.database.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()?.n ?? 0;
const chain = store.verifyAuditChain();
if (!chain.ok) throw new Error(`audit chain broken: ${JSON.stringify(chain)}`);

process.stdout.write(`# sizes (MB) every 15 days: ${samples.map((s) => `${String(s.day)}:${s.mb.toFixed(2)}`).join(' ')}\n`);
process.stdout.write(
  `# rows at day ${String(DAYS)}: code_entries ${String(rows('code_entries'))}, used_tokens ${String(rows('used_tokens'))}, revoked_tokens ${String(rows('revoked_tokens'))}, ` +
    `audit_log ${String(rows('audit_log'))}, open_journal ${String(rows('open_journal'))}; audit chain verifies from seq ${String(chain.firstSeq)}\n`,
);
print('device_db_mb_day_180', mb(at(180)), 'MB');
print('device_db_mb_day_365', mb(at(DAYS)), 'MB');
print('device_db_mb_steady_max', mb(Math.max(...steady)), 'MB');
print('device_db_mb_steady_min', mb(Math.min(...steady)), 'MB');
print('device_db_mb_after_year', mb(at(DAYS)), 'MB');
print('device_storage_bench_s', Number(seconds.toFixed(1)), 's');
store.close();
rmSync(dir, { recursive: true, force: true });
