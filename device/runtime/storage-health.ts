import { LogThrottle, type ThrottleSummary } from '@locker/contract/log-throttle.js';
import type { Logger } from '../logger.js';
import { isOutOfSpace, isStorageWriteFailure, sqliteCode } from '../store/sqlite-errors.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { StorageReserveKeeper } from './storage-reserve.js';

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
// With a storage reserve (storage-reserve.ts), the first write refused for lack of space
// deletes it instead and is retried at once: no outage begins, nothing is deferred, and
// the health report says `reserveReleased`. Only a disk still full after that (or an I/O
// error, a read-only card) is handled as above.

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
  /** True while the storage reserve is given up (the card is nearly full); absent without a reserve. */
  reserveReleased?: boolean;
}

/** What a refused write led to: not a storage failure, the reserve freed (retry now), or noted. */
type FailureOutcome = 'not-storage' | 'reserve-released' | 'noted';

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
    private readonly reserve?: Pick<StorageReserveKeeper, 'releaseForSpace' | 'released'>,
  ) {
    this.logs = new LogThrottle(logWindowMs);
  }

  /**
   * Records `err` if it is a storage write failure and returns true; anything else (a bug,
   * corruption) returns false and stays the caller's to handle.
   */
  noteFailure(err: unknown, source: string): boolean {
    return this.failure(err, source) !== 'not-storage';
  }

  /**
   * noteFailure's work. A lack of space that the reserve cures is counted but opens no
   * outage: the write itself is lost to a caller that cannot retry (rolled back), the next
   * one finds room; writeOrDefer, probe and commitOrThrow retry it at once. An outage already open stays open until
   * its deferred writes are written (the caller with a store retries at once: `attempt`).
   */
  private failure(err: unknown, source: string): FailureOutcome {
    if (!isStorageWriteFailure(err)) return 'not-storage';
    if (this.releasedFor(err, source)) return 'reserve-released';
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
    return 'noted';
  }

  /** A lack of space the reserve's release cured: counted (no outage begins); true to retry now. */
  private releasedFor(err: unknown, source: string): boolean {
    if (!isOutOfSpace(err) || this.reserve?.releaseForSpace(source, sqliteCode(err)) !== true) return false;
    this.failuresSinceBoot++;
    if (this.outageSince !== undefined) this.failedInOutage++;
    return true;
  }

  /**
   * Runs `fn`, one transaction that must commit now or not at all (an open's journal write,
   * before its relay pulse: nothing to defer). A lack of space that releasing the reserve
   * cures runs it once more at once, so the customer at the keypad is served rather than
   * told "temporarily unavailable" for room that is there now. Any other failure, or a
   * second refusal, is thrown unnoted: the caller's error boundary notes it (once).
   */
  commitOrThrow<T>(source: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!isStorageWriteFailure(err) || !this.releasedFor(err, source)) throw err;
    }
    return fn();
  }

  /**
   * Runs `fn` (one transaction); a failure that released the reserve runs it once more at
   * once. True when it committed; false when the storage refused it (noted); anything else
   * is thrown.
   */
  private attempt(source: string, fn: () => void): boolean {
    for (let tries = 0; ; tries++) {
      try {
        fn();
        return true;
      } catch (err) {
        const outcome = this.failure(err, source);
        if (outcome === 'not-storage') throw err;
        if (outcome === 'noted' || tries > 0) return false;
      }
    }
  }

  /**
   * Writes `write` now in its own transaction; if the disk refuses it (or earlier writes
   * still wait, which keeps the order), keeps it for recovery with `held` true in memory
   * meanwhile, and returns false. Anything but a storage failure is the caller's.
   */
  writeOrDefer(store: RuntimeStore, source: string, what: string, write: DeferredWrite, held: HeldFacts = {}): boolean {
    const at = this.now();
    if (this.deferred.length === 0 && this.attempt(source, () => store.transaction(() => write(store, { at, late: {} })))) return true;
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
    const reserveReleased = this.reserve?.released();
    return { writable: !this.degraded(), writeFailures: this.failuresSinceBoot, ...(reserveReleased === undefined ? {} : { reserveReleased }) };
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
    const written = this.attempt('storage-probe', () =>
      store.transaction(() => {
        for (const d of this.deferred) this.writeLate(store, d);
        store.appendAudit('device.storage-recovered', 'priority', { sinceMs, failedWrites: this.failedInOutage, deferredEvents, lostEvents: this.lost });
      }),
    );
    if (!written) return;
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
