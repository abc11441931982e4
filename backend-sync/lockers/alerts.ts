import type { Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';

// Operator alerts: security (lockout, uncommanded open, suspicious pickups), faults and
// broken audit chains. Stored once per dedupe key (a replayed event raises nothing new)
// and logged at warn with fields an on-call rule can match.

export type AlertKind =
  | 'security.keypad-lockout'
  | 'security.uncommanded-open'
  | 'security.suspicious-pickup'
  | 'security.clock-jump'
  | 'security.keyring-rebind'
  | 'security.keypad-odds-degraded'
  | 'fault.door'
  | 'fault.compartment-out-of-service'
  | 'fault.reslot-failed'
  | 'fault.parcel-in-faulty-compartment'
  | 'fault.technician-task'
  | 'fault.parcel-not-live'
  | 'fault.compartment-state-mismatch'
  | 'fault.input-rejection-burst'
  | 'audit.chain-break'
  | 'sync.batch-rejected'
  | 'sync.keyring-untrusted'
  | 'health.compartment-out-of-service'
  | 'health.keypad-lockout'
  | 'health.storage-unwritable'
  | 'health.storage-reserve-released';

export class Alerts {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'alerts' });
  }

  async raise(lockerId: string, kind: AlertKind, dedupeKey: string, details: Record<string, unknown>): Promise<boolean> {
    const raised = await this.store.alerts.raise({ id: newId('alr'), lockerId, kind, details, at: this.clock.now() }, `${kind}:${dedupeKey}`);
    if (raised) this.log.warn({ lockerId, kind, ...details }, 'alert.raised');
    return raised;
  }
}
