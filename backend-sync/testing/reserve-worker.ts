// A separate OS process hammering the reservation service on a shared SQLite file, for the
// multi-process double-booking test: `node --import tsx reserve-worker.ts <db> <attempts> <tag>`.
// Prints one JSON line: { ok, noCapacity, other }.
import { ReservationService } from '../reservations/reservation-service.js';
import { systemClock } from '../shared/clock.js';
import { isBackendError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { openSqliteStore } from '../store/open-store.js';

const [dbPath, attemptsText, tag] = process.argv.slice(2);
if (dbPath === undefined || attemptsText === undefined || tag === undefined) throw new Error('usage: reserve-worker <db> <attempts> <tag>');
const store = openSqliteStore(dbPath, silentLogger());
const service = new ReservationService({ store, clock: systemClock, logger: silentLogger(), holdMs: 15 * 60_000, offlineGraceMs: 60_000 });
const counts = { ok: 0, noCapacity: 0, other: 0 };
for (let i = 0; i < Number(attemptsText); i++) {
  try {
    await service.reserve(`w-${tag}-${String(i)}`, { orderRef: `cart-${tag}-${String(i)}`, lockerId: 'lk-race', size: 'M' });
    counts.ok++;
  } catch (err) {
    if (isBackendError(err, 'NO_CAPACITY')) counts.noCapacity++;
    else counts.other++;
  }
}
await store.close();
process.stdout.write(`${JSON.stringify(counts)}\n`);
