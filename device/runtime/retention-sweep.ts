import type { RetentionConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { RetentionResult } from '../store/history-retention.js';

// The periodic retention run (docs/operations.md "Retention"): deletes history that
// protects nothing any more, then hands a bounded number of free pages back to the file
// system, so the database stays small and flat over years without a blocking VACUUM.
// Acknowledged audit records are pruned by the sync agent, which knows the acks.

export type RetentionPort = Pick<RuntimeStore, 'pruneHistory' | 'reclaimSpace'>;

export interface RetentionRun {
  pruned: RetentionResult;
  pagesReleased: number;
}

export class RetentionSweep {
  constructor(
    private readonly store: RetentionPort,
    private readonly config: RetentionConfig,
    private readonly log: Logger,
  ) {}

  run(): RetentionRun {
    const { config } = this;
    const pruned = this.store.pruneHistory({
      olderThanMs: config.historyMs,
      tokenExpiryMarginMs: config.tokenExpiryMarginMs,
      maxRowsPerTable: config.maxRowsPerTable,
    });
    const pagesReleased = this.store.reclaimSpace(config.vacuumPagesPerRun);
    const deleted = pruned.opens + pruned.commands + pruned.closedEntries + pruned.usedTokens + pruned.revokedTokens;
    if (deleted > 0 || pagesReleased > 0) this.log.info({ ...pruned, pagesReleased }, 'retention.pruned');
    return { pruned, pagesReleased };
  }
}
