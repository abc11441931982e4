import { CodeBox } from '../keys/code-box.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { NotificationRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { redactPayload, type NotificationChannel } from './channel.js';

// Drains the notification outbox. Rows are written by state transitions in the same
// transaction (order-transitions.ts), each once per dedupe key; here each is sent through
// every channel, marked sent, and its secrets (the keypad code) are wiped from the row.
// Failures back off exponentially (base · 2^attempt, capped at 1 h) up to maxAttempts.
// Several instances drain one outbox: each takes a batch of due rows under a lease, so no
// two instances send the same notification while both are alive.

/**
 * Rows taken per claim, and how long they stay this instance's. They are sent one after
 * another (a customer's notices keep their order), at most the webhook's 5 s timeout each:
 * 4 rows take ≤ 20 s, inside the 30 s lease, so a live instance never loses rows mid-send.
 * A crashed instance's rows are due again 30 s later — that delay is what a crash costs a
 * customer (the fleet test measures it). A crash between send and markSent resends once;
 * the notification id lets the receiver drop that duplicate.
 */
const CLAIM_BATCH = 4;
const LEASE_MS = 30_000;
/** At most this many rows per pass, as before the leases: the next tick takes the rest. */
const PASS_LIMIT = 100;

export interface OutboxOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  channels: readonly NotificationChannel[];
  /** Opens sealed codes in payloads just before sending (they are stored sealed). */
  codeBox?: CodeBox | undefined;
  maxAttempts: number;
  baseBackoffMs: number;
}

export class OutboxDispatcher {
  private running: Promise<number> | undefined;
  private readonly log: Logger;

  constructor(private readonly o: OutboxOptions) {
    this.log = o.logger.child({ component: 'outbox' });
  }

  /** One pass over due notifications; concurrent calls share the pass in flight. */
  drain(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    const { store, clock } = this.o;
    let sent = 0;
    for (let taken = 0; taken < PASS_LIMIT; ) {
      const batch = await store.notifications.claimDue(clock.now(), LEASE_MS, Math.min(CLAIM_BATCH, PASS_LIMIT - taken));
      if (batch.length === 0) break;
      taken += batch.length;
      for (const n of batch) if (await this.send(n)) sent++;
    }
    return sent;
  }

  /** Sends one notification through every channel; true when sent, false when it failed (rescheduled). */
  private async send(n: NotificationRecord): Promise<boolean> {
    const { store, clock } = this.o;
    try {
      const outgoing = { ...n, payload: this.opened(n.payload) };
      for (const ch of this.o.channels) await ch.send(outgoing);
      await store.notifications.markSent(n.id, clock.now(), redactPayload(n.payload));
      return true;
    } catch (err) {
      const attempts = n.attempts + 1;
      const giveUp = attempts >= this.o.maxAttempts;
      const delay = Math.min(3_600_000, this.o.baseBackoffMs * 2 ** (attempts - 1));
      const reason = err instanceof Error ? err.message : String(err);
      await store.notifications.markFailedAttempt(n.id, attempts, clock.now() + delay, reason.slice(0, 200), giveUp);
      this.log.warn({ notificationId: n.id, kind: n.kind, attempts, giveUp, retryInMs: delay, reason }, 'notification.failed');
      return false;
    }
  }

  /** The payload with a sealed code opened (bound to the payload's shipment id); only in memory. */
  private opened(payload: Record<string, unknown>): Record<string, unknown> {
    const code = payload['code'];
    if (!CodeBox.isSealed(code)) return payload;
    const shipmentId = payload['shipmentId'];
    if (this.o.codeBox === undefined || typeof shipmentId !== 'string') throw new Error('sealed code without a data key or shipment id');
    return { ...payload, code: this.o.codeBox.open(code, shipmentId) };
  }
}
