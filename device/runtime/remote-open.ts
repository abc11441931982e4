import { z } from 'zod';
import type { DoorEvent } from '../core/door-supervisor.js';
import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { RemoteOpenOutcome } from '@locker/sync-agent/device-sync-port.js';
import type { DoorController } from './door-controller.js';

// Remote opens on the backend's signed order, at most one pulse per transaction id, ever:
// the transaction is recorded in the store (a state blob) before the open is journaled,
// and a repeat of the id returns the stored outcome instead of pulsing. A repeat whose
// first attempt died with the process (recorded, never settled, not running now) gets
// 'unknown': the pulse may or may not have happened, and saying 'busy' would invite a
// retry that could open the door a second time. A door whose sensor cannot tell
// ('unverified') is 'unknown' too, not 'opened'.

const Record_ = z
  .object({ opId: z.string(), outcome: z.enum(['opened', 'already-open', 'jammed', 'unknown-compartment', 'out-of-service', 'busy', 'unknown']).optional() })
  .strict();

export class RemoteOpener {
  private readonly pending = new Map<string, Promise<RemoteOpenOutcome>>();

  constructor(
    private readonly store: RuntimeStore,
    private readonly doors: DoorController,
    private readonly log: Logger,
  ) {}

  open(transactionId: string, compartmentId: string, reason: string): Promise<RemoteOpenOutcome> {
    const inFlight = this.pending.get(transactionId);
    if (inFlight !== undefined) return inFlight;
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
    this.store.transaction(() => {
      this.store.saveState(key, JSON.stringify({ opId }));
      this.store.appendAudit('remote.open', 'normal', { transactionId, compartmentId, reason: reason.slice(0, 64), opId });
    });
    let resolve: (outcome: RemoteOpenOutcome) => void = () => undefined;
    const promise = new Promise<RemoteOpenOutcome>((r) => (resolve = r));
    // Registered before the open: its events may arrive before open() returns.
    this.pending.set(transactionId, promise);
    const settle = (outcome: RemoteOpenOutcome['outcome']): void => {
      this.store.saveState(key, JSON.stringify({ opId, outcome }));
      this.pending.delete(transactionId);
      this.log.info({ transactionId, compartmentId, outcome }, 'remote.open-finished');
      resolve({ outcome });
    };
    const started = this.doors.open({ compartmentId, reason: 'remote', transactionId }, (event: DoorEvent) => {
      if (event === 'closed') return;
      settle(outcomeOf(event));
    }, opId);
    if (!started.started) settle(started.reason);
    return promise;
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
