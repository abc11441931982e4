import { LogThrottle, type ThrottleSummary } from '@locker/contract/log-throttle.js';
import type { Logger } from '../logger.js';
import { isStorageWriteFailure, sqliteCode } from '../store/sqlite-errors.js';
import type { RuntimeStore } from '../store/runtime-store.js';

// What the runtime knows about its database's writability (a full SD card, an I/O error).
// Reads keep working, so the locker stays up, but nothing that needs a durable record may
// happen: the flows' transactions fail BEFORE any relay is pulsed and the error lands
// here. One error line per outage, then a counted summary per window (no log flood at
// 3 a.m.); the health report says "not writable"; door events that could not be
// audited wait in a bounded memory queue and are written when a probe write succeeds
// (the runtime's clock tick), followed by `device.storage-recovered`. No restart needed.

/** Door events kept while the disk is full; an outage longer than this many events loses the oldest (counted). */
export const MAX_DEFERRED_AUDITS = 200;

export type DeferredWrite = (store: RuntimeStore) => void;

export interface StorageStatus {
  writable: boolean;
  /** Writes refused since boot. */
  writeFailures: number;
}

export class StorageHealth {
  private outageSince: number | undefined;
  private failedInOutage = 0;
  private failuresSinceBoot = 0;
  private lost = 0;
  private readonly deferred: DeferredWrite[] = [];
  private readonly logs: LogThrottle;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly monotonicNow: () => number,
    logWindowMs: number,
  ) {
    this.logs = new LogThrottle(logWindowMs);
  }

  /**
   * Records `err` if it is a storage write failure and returns true; anything else (a bug,
   * corruption) returns false and stays the caller's to handle.
   */
  noteFailure(err: unknown, source: string): boolean {
    if (!isStorageWriteFailure(err)) return false;
    this.failuresSinceBoot++;
    this.failedInOutage++;
    const first = this.outageSince === undefined;
    if (first) this.outageSince = this.now();
    const verdict = this.logs.hit('write-failed', this.monotonicNow());
    if (verdict.summary !== undefined) this.logSummary(verdict.summary);
    if (verdict.log) {
      const data = { source, errorCode: 'DB_WRITE_FAILED', sqliteCode: sqliteCode(err), failedWrites: this.failedInOutage };
      if (first) this.log.error(data, 'storage.write-failed');
      else this.log.warn(data, 'storage.write-failed');
    }
    return true;
  }

  /** An audit record the door supervisor could not write: kept until the disk has room. */
  defer(write: DeferredWrite): void {
    if (this.deferred.length >= MAX_DEFERRED_AUDITS) {
      this.deferred.shift();
      this.lost++;
    }
    this.deferred.push(write);
  }

  degraded(): boolean {
    return this.outageSince !== undefined;
  }

  status(): StorageStatus {
    return { writable: !this.degraded(), writeFailures: this.failuresSinceBoot };
  }

  /**
   * While degraded: writes the deferred records and `device.storage-recovered` in one
   * transaction. It fails as a whole (counted, logged within the throttle) while the disk
   * is still full; once it commits the outage is over. Cheap and bounded: one small
   * transaction per call, called from the clock tick.
   */
  probe(store: RuntimeStore): void {
    if (this.outageSince === undefined) return;
    const sinceMs = this.outageSince;
    const deferredEvents = this.deferred.length;
    try {
      store.transaction(() => {
        for (const write of this.deferred) write(store);
        store.appendAudit('device.storage-recovered', 'priority', { sinceMs, failedWrites: this.failedInOutage, deferredEvents, lostEvents: this.lost });
      });
    } catch (err) {
      if (this.noteFailure(err, 'storage-probe')) return;
      throw err;
    }
    const summary = this.logs.flush(Number.POSITIVE_INFINITY);
    if (summary !== undefined) this.logSummary(summary);
    this.log.info({ sinceMs, failedWrites: this.failedInOutage, deferredEvents, lostEvents: this.lost }, 'storage.recovered');
    this.deferred.length = 0;
    this.outageSince = undefined;
    this.failedInOutage = 0;
    this.lost = 0;
  }

  /** The window's summary line, if any (called from the clock tick). */
  flushLogs(): void {
    const summary = this.logs.flush(this.monotonicNow());
    if (summary !== undefined) this.logSummary(summary);
  }

  private logSummary(summary: ThrottleSummary): void {
    this.log.warn({ errorCode: 'DB_WRITE_FAILED', suppressed: summary.suppressed, windowMs: summary.windowMs, failedWrites: this.failedInOutage }, 'storage.write-failed-summary');
  }
}
