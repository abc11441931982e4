import type { Logger } from '../logger.js';
import type { EnsureResult, StorageReserve } from '../store/storage-reserve-file.js';

// The storage reserve ("ballast file"): a file of real, allocated bytes beside the database,
// taken at start while there is room. When the card fills up and a write is refused for
// lack of space, it is deleted (once), which gives SQLite back that much room at once: the
// refused write is retried, the locker keeps serving, and the health report says
// `reserveReleased` so the card gets cleaned before it is full for good. Once free space
// is comfortably above the reserve again (its size plus a margin: no release-restore
// flapping at the edge), it is taken again. The file operations sit behind StorageReserve
// (device/store/storage-reserve-file.ts) so this policy runs on a fake in tests.
// Taking it again is an asynchronous write (the locker may be serving a customer then):
// while it runs the reserve counts as released, one runs at a time, and a write refused
// for lack of space meanwhile stops it and deletes its partial file at once, which is
// the release then (that file eats the room the database needs).

/** The longest pause between failed restore attempts, in clock ticks. */
export const MAX_RESTORE_BACKOFF_CHECKS = 1024;

export class StorageReserveKeeper {
  private state: 'held' | 'released' | 'writing' | 'disabled';
  /** The write in progress (start or restore); none overlaps another. */
  private writing: Promise<void> | undefined;
  /** Bumped by a release: a write begun before it must not mark the reserve held. */
  private episode = 0;
  /** One error line per episode of a reserve that cannot be written (not per tick). */
  private failing = false;
  /** One error line per episode of a free-space figure that cannot be read (not per tick). */
  private statfsFailing = false;
  /** Checks to let pass before the next restore attempt after one that did not take the reserve. */
  private skipChecks = 0;
  /** The pause after the next such failure, in checks (doubling, capped). */
  private backoffChecks = 1;

  constructor(
    private readonly reserve: StorageReserve,
    private readonly log: Logger,
    /** Free bytes beyond the reserve's own size needed before it is taken again. */
    private readonly restoreMarginBytes: number,
  ) {
    this.state = reserve.bytes === 0 ? 'disabled' : 'released';
  }

  /**
   * At start, before the runtime serves anyone: takes the reserve. A card too full for it
   * (the reserve released before a restart, space not freed since) starts released, as it
   * was; never fatal.
   */
  async start(): Promise<void> {
    if (this.reserve.bytes === 0) {
      // Deletes a reserve left by an earlier config.
      await this.tryEnsure('start');
      return;
    }
    const result = await this.write('start');
    if (result === 'no-room') this.log.warn({ bytes: this.reserve.bytes, cause: 'no-room-at-start', freeBytes: this.freeBytes() }, 'storage.reserve-released');
  }

  /** At a stop: a write in progress is stopped, its partial file removed; a taken reserve stays. */
  async stop(): Promise<void> {
    if (this.writing === undefined) return;
    await this.reserve.cancel();
    await this.writing;
  }

  /**
   * A write was refused for lack of space: frees the reserve if it is still taken (or stops
   * its write in progress, whose partial file is freed) and returns true when that made
   * room now (the caller retries the write). Once only: a released reserve returns false,
   * and the caller's usual full-disk handling applies.
   */
  releaseForSpace(source: string, sqliteCode: string | undefined): boolean {
    if (this.state !== 'held' && this.state !== 'writing') return false;
    const during = this.state === 'writing' ? { during: 'restore' } : {};
    this.state = 'released';
    this.episode++;
    let freed: boolean;
    try {
      freed = this.reserve.release();
    } catch (err) {
      this.log.error({ source, sqliteCode, err }, 'storage.reserve-release-failed');
      return false;
    }
    this.log.warn({ source, sqliteCode, bytes: this.reserve.bytes, freed, freeBytes: this.freeBytes(), ...during }, 'storage.reserve-released');
    return freed;
  }

  /**
   * At the runtime's clock tick, while no write waits: starts taking the reserve again once
   * free space exceeds its size plus the margin (a card cleaned by a technician). Returns
   * at once (the write runs in the background); never throws.
   */
  check(): void {
    if (this.state !== 'released' || this.writing !== undefined) return;
    // A restore that failed (an I/O error, a directory that cannot be written) is tried again
    // after a pause that doubles: megabytes written every tick would wear the SD card out.
    if (this.skipChecks > 0) {
      this.skipChecks--;
      return;
    }
    const freeBytes = this.freeBytes();
    if (freeBytes === undefined || freeBytes < this.reserve.bytes + this.restoreMarginBytes) return;
    void this.write('restore').then((result) => {
      if (result === 'held') {
        this.backoffChecks = 1;
        this.log.info({ bytes: this.reserve.bytes, freeBytes }, 'storage.reserve-restored');
        return;
      }
      // Cancelled by a release (the card filled up meanwhile) or no room: the free-space
      // margin already keeps those from repeating at once.
      if (result !== 'failed') return;
      this.skipChecks = this.backoffChecks;
      this.backoffChecks = Math.min(this.backoffChecks * 2, MAX_RESTORE_BACKOFF_CHECKS);
    });
  }

  /** Undefined when no reserve is configured. True while it is not taken (also while being written). */
  released(): boolean | undefined {
    return this.state === 'disabled' ? undefined : this.state !== 'held';
  }

  /** Writes the reserve; held when it completes within the same episode (no release meanwhile). */
  private write(stage: 'start' | 'restore'): Promise<EnsureResult | 'failed'> {
    this.state = 'writing';
    const episode = this.episode;
    const result = this.tryEnsure(stage).then((r) => {
      if (this.episode === episode) this.state = r === 'held' ? 'held' : 'released';
      return this.episode === episode ? r : 'cancelled';
    });
    this.writing = result.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      this.writing = undefined;
    });
    return result;
  }

  private async tryEnsure(stage: 'start' | 'restore'): Promise<EnsureResult | 'failed'> {
    try {
      const result = await this.reserve.ensure();
      this.failing = false;
      return result;
    } catch (err) {
      if (!this.failing) this.log.error({ stage, bytes: this.reserve.bytes, err }, 'storage.reserve-failed');
      this.failing = true;
      return 'failed';
    }
  }

  private freeBytes(): number | undefined {
    try {
      const free = this.reserve.freeBytes();
      this.statfsFailing = false;
      return free;
    } catch (err) {
      // Called at every tick while released (the data directory gone, say): said once.
      if (!this.statfsFailing) this.log.error({ err }, 'storage.reserve-free-space-unknown');
      this.statfsFailing = true;
      // In check() an unknown figure just means "not yet".
      return undefined;
    }
  }
}
