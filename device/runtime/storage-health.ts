import { LogThrottle, type ThrottleSummary } from '@locker/contract/log-throttle.js';
import type { Logger } from '../logger.js';
import { isStorageWriteFailure, sqliteCode } from '../store/sqlite-errors.js';
import type { RuntimeStore } from '../store/runtime-store.js';

// What the runtime knows about its database's writability (a full SD card, an I/O error).
// Reads keep working, so the locker stays up, but nothing that needs a durable record may
// happen: the flows' transactions fail BEFORE any relay is pulsed and the error lands
// here. One error line per outage, then a counted summary per window (no log flood at
// 3 a.m.); the health report says "not writable". What a door did meanwhile (a door
// event, a deposit or pickup whose door opened before the disk filled) cannot be undone,
// so its write waits in a bounded memory queue, in order, and is written when a probe
// write succeeds (the runtime's clock tick), followed by `device.storage-recovered`. No
// restart needed. Until then what such a write would have made true is held in memory
// (a token spent, a compartment occupied), so this locker does not open that code again
// or hand that door to another parcel in the meantime.

/** Writes kept while the disk is full; an outage longer than this many loses the oldest (counted, logged). */
export const MAX_DEFERRED_AUDITS = 200;

/**
 * When a write's event happened. Written on time: `at` is now and `late` is empty; written
 * on recovery: `at` is the event's time and `late` carries it as `occurredAt`, to spread into
 * the audit data (the record's own `at` is the write time, so the chain's `at` never goes
 * back; see docs/protocol.md).
 */
export interface WriteTime {
  at: number;
  late: { occurredAt?: number };
}

export type DeferredWrite = (store: RuntimeStore, time: WriteTime) => void;

/** What a deferred write will make true, held in memory until it is written. */
export interface HeldFacts {
  /** A single-use token the write spends. */
  spentTokenId?: string;
  /** Entries the write closes (a parcel retrieved): their codes count as used meanwhile. */
  closedTokenIds?: readonly string[];
  /** A compartment the write records as holding a parcel. */
  occupiedCompartmentId?: string;
}

interface Deferred {
  /** What it records (the audit type), for the log when it is lost. */
  what: string;
  occurredAt: number;
  write: DeferredWrite;
}

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
  private readonly deferred: Deferred[] = [];
  private readonly spent = new Set<string>();
  private readonly occupied = new Set<string>();
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

  /**
   * Writes `write` now in its own transaction; if the disk refuses it (or earlier writes
   * still wait, which keeps the order), keeps it for recovery with `held` true in memory
   * meanwhile, and returns false. Anything but a storage failure is the caller's.
   */
  writeOrDefer(store: RuntimeStore, source: string, what: string, write: DeferredWrite, held: HeldFacts = {}): boolean {
    const at = this.now();
    if (this.deferred.length === 0) {
      try {
        store.transaction(() => write(store, { at, late: {} }));
        return true;
      } catch (err) {
        if (!this.noteFailure(err, source)) throw err;
      }
    }
    this.defer(what, at, write, held);
    return false;
  }

  /** A write that was refused (already counted by noteFailure): kept until the disk has room. */
  defer(what: string, occurredAt: number, write: DeferredWrite, held: HeldFacts = {}): void {
    if (held.spentTokenId !== undefined) this.spent.add(held.spentTokenId);
    for (const id of held.closedTokenIds ?? []) this.spent.add(id);
    if (held.occupiedCompartmentId !== undefined) this.occupied.add(held.occupiedCompartmentId);
    if (this.deferred.length >= MAX_DEFERRED_AUDITS) {
      // The oldest goes; what it held stays held (the safe side) until recovery.
      const dropped = this.deferred.shift();
      this.lost++;
      // Throttled like the failures: the rest of a window come out counted in the summary.
      const verdict = this.logs.hit('deferred-dropped', this.monotonicNow());
      if (verdict.summary !== undefined) this.logSummary(verdict.summary);
      if (verdict.log && dropped !== undefined) {
        this.log.error({ errorCode: 'DB_WRITE_FAILED', type: dropped.what, occurredAt: dropped.occurredAt, lostEvents: this.lost, max: MAX_DEFERRED_AUDITS }, 'storage.deferred-dropped');
      }
    }
    this.deferred.push({ what, occurredAt, write });
  }

  /** True while a deferred write that spends this token waits for space. */
  spentPending(tokenId: string): boolean {
    return this.spent.has(tokenId);
  }

  /** Compartments a deferred write records as holding a parcel. */
  occupiedPending(): ReadonlySet<string> {
    return this.occupied;
  }

  /**
   * At a stop while writes still wait (the disk still full): they are lost with this
   * process. Says how many and what, at error level; returns the count.
   */
  reportUnwritten(): number {
    if (this.deferred.length === 0 && this.lost === 0) return 0;
    const lostEvents = this.deferred.length + this.lost;
    this.log.error({ errorCode: 'DB_WRITE_FAILED', lostEvents, droppedEarlier: this.lost, types: this.deferred.map((d) => d.what), since: this.deferred[0]?.occurredAt }, 'storage.deferred-lost');
    return lostEvents;
  }

  degraded(): boolean {
    return this.outageSince !== undefined;
  }

  status(): StorageStatus {
    return { writable: !this.degraded(), writeFailures: this.failuresSinceBoot };
  }

  /**
   * While degraded: writes the deferred records, in order and each with the time it
   * happened, then `device.storage-recovered`, in one transaction. It fails as a whole
   * (counted, logged within the throttle) while the disk is still full; once it commits the
   * outage is over. A deferred write that fails for another reason (a bug, a row gone) is
   * rolled back alone (savepoint) and logged, so it cannot hold the locker degraded.
   * Called from the clock tick.
   */
  probe(store: RuntimeStore): void {
    if (this.outageSince === undefined) return;
    const sinceMs = this.outageSince;
    const deferredEvents = this.deferred.length;
    try {
      store.transaction(() => {
        for (const d of this.deferred) this.writeLate(store, d);
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
    this.spent.clear();
    this.occupied.clear();
    this.outageSince = undefined;
    this.failedInOutage = 0;
    this.lost = 0;
  }

  private writeLate(store: RuntimeStore, d: Deferred): void {
    try {
      store.transaction(() => d.write(store, { at: d.occurredAt, late: { occurredAt: d.occurredAt } }));
    } catch (err) {
      if (isStorageWriteFailure(err)) throw err;
      this.log.error({ type: d.what, occurredAt: d.occurredAt, err }, 'storage.deferred-write-failed');
    }
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
