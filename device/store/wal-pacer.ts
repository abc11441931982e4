import type { SqliteDatabase } from './open-database.js';

// WAL checkpoints of a large sliced apply, each in a turn of the event loop of its own
// (docs/decisions/0025, addendum).
//
// SQLite checkpoints inside whichever commit pushes the WAL past wal_autocheckpoint (1000
// pages). A 10k-code batch dirties about one code-digest index page per row, so every few
// staging slices one slice's commit also copied ~4 MB back into the database file: 10–20 ms
// on the event loop in one piece, and sometimes it was a key press's own commit that paid.
// While a large batch is staged, autocheckpoint is off and the applier checkpoints
// (PASSIVE) every `everySlices` slices, after a yield, so the loop is held for one slice or
// one small checkpoint at a time. The WAL stays small, so the next write restarts it.
// A checkpoint on a worker's own connection was measured first and was worse on a shared
// 2-core machine: its writes and fsyncs ran beside the key presses' commits (decision 0025).

export interface WalPacerOptions {
  /** Staging slices between two checkpoints (0: none here, autocheckpoint stays on). */
  everySlices: number;
  /** Lets the event loop run before a checkpoint. */
  yieldToLoop: () => Promise<void>;
}

export class WalPacer {
  private slices = 0;
  private readonly previous: number | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: WalPacerOptions,
  ) {
    if (options.everySlices <= 0) return;
    this.previous = Number(db.pragma('wal_autocheckpoint', { simple: true }));
    db.pragma('wal_autocheckpoint = 0');
  }

  /** After each staging slice's commit. */
  async afterCommit(): Promise<void> {
    if (this.previous === undefined) return;
    this.slices++;
    if (this.slices % this.options.everySlices === 0) await this.checkpointAlone();
  }

  /** After the last slice: what the last slices left, before the switching transaction. */
  async flush(): Promise<void> {
    if (this.previous === undefined || this.slices % this.options.everySlices === 0) return;
    await this.checkpointAlone();
  }

  /** Gives checkpoints back to SQLite (autocheckpoint as before). */
  end(): void {
    // A store closed under a running apply has nothing left to give back.
    if (this.previous === undefined || !this.db.open) return;
    this.db.pragma(`wal_autocheckpoint = ${String(this.previous)}`);
  }

  private async checkpointAlone(): Promise<void> {
    await this.options.yieldToLoop();
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }
}
