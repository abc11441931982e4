import { z } from 'zod';
import type { DoorEvent } from '../core/door-supervisor.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { RemoteOpenOutcome } from '@locker/sync-agent/device-sync-port.js';
import { DeviceError } from '../errors.js';
import type { DoorController, OpenStart } from './door-controller.js';
import { MAX_DEFERRED_AUDITS, type StorageHealth } from './storage-health.js';

// Remote opens on the backend's signed order, at most one pulse per transaction id, ever:
// the transaction is recorded in the store (a state blob) in the open journal's own commit,
// before the pulse, and a repeat of the id returns the stored outcome instead of pulsing. A repeat whose
// first attempt died with the process (recorded, never settled, not running now) gets
// 'unknown': the pulse may or may not have happened, and saying 'busy' would invite a
// retry that could open the door a second time. A door whose sensor cannot tell
// ('unverified') is 'unknown' too, not 'opened'.
// A full disk (docs/operations.md): an open it refuses to journal is refused whole, before
// any pulse, with DB_WRITE_FAILED; an open whose door moved after the disk filled still
// reports its outcome, its record waiting for space like the door's own records.

const Record_ = z
  .object({ opId: z.string(), outcome: z.enum(['opened', 'already-open', 'jammed', 'unknown-compartment', 'out-of-service', 'busy', 'unknown']).optional() })
  .strict();

export class RemoteOpener {
  private readonly pending = new Map<string, Promise<RemoteOpenOutcome>>();
  /**
   * Outcomes decided while the disk refused their record (it waits in StorageHealth): a
   * repeat of the transaction meanwhile gets the outcome, not the stored 'unknown'. Pruned
   * once the storage is writable again (forgetWritten): the store answers from then on.
   * Bounded by MAX_DEFERRED_AUDITS: an entry with that many newer ones had its deferred
   * write dropped from StorageHealth's queue (it holds no more), so its record never lands
   * and a repeat gets the stored 'unknown' (never a pulse), as after a restart.
   */
  private readonly decided = new Map<string, RemoteOpenOutcome['outcome']>();

  constructor(
    private readonly store: RuntimeStore,
    private readonly doors: DoorController,
    private readonly storage: Pick<StorageHealth, 'noteFailure' | 'writeOrDefer' | 'degraded'>,
    private readonly log: Logger,
  ) {}

  /** Outcomes kept in memory because their record still waits for space (for stats). */
  get unstoredOutcomes(): number {
    return this.decided.size;
  }

  /**
   * From the runtime's tick, after the storage probe: once the storage is writable again,
   * every deferred write has been written (in the probe's one commit, not while it may still
   * roll back) or was dropped, so the outcomes kept for repeats go; a record that landed
   * answers repeats from the store.
   */
  forgetWritten(): void {
    if (this.decided.size === 0 || this.storage.degraded()) return;
    for (const transactionId of this.decided.keys()) {
      const stored = this.load(`remote-open:${transactionId}`)?.outcome;
      this.log.info({ transactionId, outcome: this.decided.get(transactionId), written: stored !== undefined }, 'remote.open-outcome-released');
    }
    this.decided.clear();
  }

  /**
   * Settles for every path: with an outcome, or rejected, before any pulse, with a
   * DeviceError DB_WRITE_FAILED when the storage refuses the open's records (a full disk:
   * nothing pulsed, nothing recorded; the sync agent answers the backend 'failed').
   */
  open(transactionId: string, compartmentId: string, reason: string): Promise<RemoteOpenOutcome> {
    const inFlight = this.pending.get(transactionId);
    if (inFlight !== undefined) return inFlight;
    const decided = this.decided.get(transactionId);
    if (decided !== undefined) return Promise.resolve({ outcome: decided });
    const key = `remote-open:${transactionId}`;
    const previous = this.load(key);
    if (previous !== undefined) {
      if (previous.outcome === undefined) this.log.warn({ transactionId, compartmentId }, 'remote.open-repeat-after-crash');
      return Promise.resolve({ outcome: previous.outcome ?? 'unknown' });
    }
    const row = this.store.getCompartment(compartmentId);
    if (row === undefined) return Promise.resolve({ outcome: 'unknown-compartment' });
    if (row.status === 'out-of-service') return Promise.resolve({ outcome: 'out-of-service' });
    if (!this.doors.isIdle(compartmentId)) return Promise.resolve({ outcome: 'busy' });
    const opId = this.doors.newOpId();
    let resolve: (outcome: RemoteOpenOutcome) => void = () => undefined;
    const promise = new Promise<RemoteOpenOutcome>((r) => (resolve = r));
    // Registered before the open: its events may arrive before open() returns.
    this.pending.set(transactionId, promise);
    // Once the relay may have moved, the outcome is reported whatever the disk says: its
    // record is written now or, refused, waits in order with the door's records (the open
    // itself was journaled before the pulse). A throw here would leave the command pending
    // until a restart, with the backend never told what the door did.
    let settled = false;
    const settle = (outcome: RemoteOpenOutcome['outcome']): void => {
      if (settled) return;
      settled = true;
      this.pending.delete(transactionId);
      try {
        const written = this.storage.writeOrDefer(this.store, 'remote-open:settle', 'remote.open-finished', (s) => s.saveState(key, JSON.stringify({ opId, outcome })));
        if (!written) this.keepDecided(transactionId, outcome);
        this.log.info({ transactionId, compartmentId, outcome, ...(written ? {} : { deferred: true }) }, 'remote.open-finished');
      } finally {
        resolve({ outcome });
      }
    };
    let started: OpenStart;
    try {
      // The transaction's record shares the journal's one commit, before the pulse: both or
      // neither (a full disk refuses both, and nothing is pulsed).
      started = this.doors.open({ compartmentId, reason: 'remote', transactionId }, (event: DoorEvent) => {
        if (event === 'closed') return;
        settle(outcomeOf(event));
      }, opId, () => {
        this.store.saveState(key, JSON.stringify({ opId }));
        this.store.appendAudit('remote.open', 'normal', { transactionId, compartmentId, reason: reason.slice(0, 64), opId });
      });
    } catch (err) {
      this.pending.delete(transactionId);
      if (!this.storage.noteFailure(err, 'remote-open')) throw err;
      this.log.warn({ transactionId, compartmentId, errorCode: 'DB_WRITE_FAILED' }, 'remote.open-refused');
      throw new DeviceError('DB_WRITE_FAILED', 'remote open refused: the storage cannot record it; nothing opened', { transactionId, compartmentId }, { cause: err });
    }
    if (!started.started) settle(started.reason);
    return promise;
  }

  private keepDecided(transactionId: string, outcome: RemoteOpenOutcome['outcome']): void {
    const oldest = this.decided.size >= MAX_DEFERRED_AUDITS ? this.decided.keys().next().value : undefined;
    if (oldest !== undefined) this.decided.delete(oldest);
    this.decided.set(transactionId, outcome);
  }

  private load(key: string): z.infer<typeof Record_> | undefined {
    const json = this.store.loadState(key);
    if (json === undefined) return undefined;
    const parsed = Record_.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : { opId: 'unknown' };
  }
}

function outcomeOf(event: Exclude<DoorEvent, 'closed'>): RemoteOpenOutcome['outcome'] {
  switch (event) {
    case 'opened':
      return 'opened';
    case 'already-open':
      return 'already-open';
    case 'jammed':
    case 'relay-fault':
      return 'jammed';
    case 'unverified':
      return 'unknown';
  }
}
