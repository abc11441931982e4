import type { Logger } from '../logger.js';
import type { StorageReserve } from '../store/storage-reserve-file.js';

// The storage reserve ("ballast file"): a file of real, allocated bytes beside the database,
// taken at start while there is room. When the card fills up and a write is refused for
// lack of space, it is deleted (once), which gives SQLite back that much room at once: the
// refused write is retried, the locker keeps serving, and the health report says
// `reserveReleased` so the card gets cleaned before it is full for good. Once free space
// is comfortably above the reserve again (its size plus a margin: no release-restore
// flapping at the edge), it is taken again. The file operations sit behind StorageReserve
// (device/store/storage-reserve-file.ts) so this policy runs on a fake in tests.

export class StorageReserveKeeper {
  private state: 'held' | 'released' | 'disabled' = 'disabled';
  /** One error line per episode of a reserve that cannot be written (not per tick). */
  private failing = false;

  constructor(
    private readonly reserve: StorageReserve,
    private readonly log: Logger,
    /** Free bytes beyond the reserve's own size needed before it is taken again. */
    private readonly restoreMarginBytes: number,
  ) {}

  /**
   * At start: takes the reserve. A card too full for it (the reserve released before a
   * restart, space not freed since) starts released, as it was; never fatal.
   */
  start(): void {
    if (this.reserve.bytes === 0) {
      this.tryEnsure('start');
      this.state = 'disabled';
      return;
    }
    const result = this.tryEnsure('start');
    if (result === 'held') {
      this.state = 'held';
      return;
    }
    this.state = 'released';
    if (result === 'no-room') this.log.warn({ bytes: this.reserve.bytes, cause: 'no-room-at-start', freeBytes: this.freeBytes() }, 'storage.reserve-released');
  }

  /**
   * A write was refused for lack of space: frees the reserve if it is still taken and
   * returns true when that made room now (the caller retries the write). Once only: a
   * released reserve returns false, and the caller's usual full-disk handling applies.
   */
  releaseForSpace(source: string, sqliteCode: string | undefined): boolean {
    if (this.state !== 'held') return false;
    this.state = 'released';
    let freed: boolean;
    try {
      freed = this.reserve.release();
    } catch (err) {
      this.log.error({ source, sqliteCode, err }, 'storage.reserve-release-failed');
      return false;
    }
    this.log.warn({ source, sqliteCode, bytes: this.reserve.bytes, freed, freeBytes: this.freeBytes() }, 'storage.reserve-released');
    return freed;
  }

  /**
   * At the runtime's clock tick, while no write waits: takes the reserve again once free
   * space exceeds its size plus the margin (a card cleaned by a technician).
   */
  check(): void {
    if (this.state !== 'released') return;
    const freeBytes = this.freeBytes();
    if (freeBytes === undefined || freeBytes < this.reserve.bytes + this.restoreMarginBytes) return;
    if (this.tryEnsure('restore') !== 'held') return;
    this.state = 'held';
    this.log.info({ bytes: this.reserve.bytes, freeBytes }, 'storage.reserve-restored');
  }

  /** Undefined when no reserve is configured. */
  released(): boolean | undefined {
    return this.state === 'disabled' ? undefined : this.state === 'released';
  }

  private tryEnsure(stage: 'start' | 'restore'): 'held' | 'no-room' | 'disabled' | 'failed' {
    try {
      const result = this.reserve.ensure();
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
      return this.reserve.freeBytes();
    } catch {
      // Informational in logs; in check() an unknown figure just means "not yet".
      return undefined;
    }
  }
}
