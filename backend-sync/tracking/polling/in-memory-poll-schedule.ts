import type { TrackingStatus } from '../tracking-event.js';
import type { PollEntry, PollFact, PollNote, PollReschedule, PollSchedulePort } from './poll-schedule-port.js';

// The poll schedule in a Map, for tests and for a single-instance backend without the SQL
// table. Each method does its whole read-modify-write without awaiting, so on one event
// loop a claim is atomic: two pollers sharing one instance never hold the same number, the
// same guarantee the SQL implementation gives across processes.

export class InMemoryPollSchedule implements PollSchedulePort {
  private readonly entries = new Map<string, PollEntry>();

  claimDue(now: number, limit: number, leaseMs: number): Promise<PollEntry[]> {
    const due = [...this.entries.values()]
      .filter((e) => e.nextPollAt !== null && e.nextPollAt <= now && (e.leaseUntil === null || e.leaseUntil <= now))
      .sort((a, b) => (a.nextPollAt ?? 0) - (b.nextPollAt ?? 0) || a.trackingNumber.localeCompare(b.trackingNumber))
      .slice(0, limit);
    for (const e of due) e.leaseUntil = now + leaseMs;
    return Promise.resolve(due.map((e) => ({ ...e })));
  }

  reschedule(trackingNumber: string, claimedLeaseUntil: number, next: PollReschedule): Promise<boolean> {
    const e = this.entries.get(trackingNumber);
    if (e === undefined || e.leaseUntil !== claimedLeaseUntil) return Promise.resolve(false);
    e.nextPollAt = next.nextPollAt;
    e.failures = next.failures;
    e.mode = next.mode;
    if (next.status !== undefined) e.status = next.status;
    if (next.etaAt !== undefined) e.etaAt = next.etaAt;
    e.leaseUntil = null;
    return Promise.resolve(true);
  }

  noteWebhook(trackingNumber: string, carrier: string, at: number, status: TrackingStatus, dueBy?: number): Promise<void> {
    const e = this.entryFor(trackingNumber, carrier, at, dueBy);
    e.lastWebhookAt = Math.max(e.lastWebhookAt ?? at, at);
    e.status = status;
    this.pullIn(e, dueBy ?? at, dueBy);
    return Promise.resolve();
  }

  noteEvent(fact: PollFact, now: number, dueBy?: number): Promise<void> {
    const e = this.entryFor(fact.trackingNumber, fact.carrier, now, dueBy);
    e.status = fact.status;
    e.lastEventAt = Math.max(e.lastEventAt ?? fact.eventAt, fact.eventAt);
    if (fact.etaAt !== undefined) e.etaAt = fact.etaAt;
    // An event alone never re-arms a stopped entry (the port's noteEvent).
    if (e.nextPollAt !== null) this.pullIn(e, dueBy ?? now, dueBy);
    return Promise.resolve();
  }

  async noteNews(notes: readonly PollNote[]): Promise<void> {
    for (const n of notes) {
      if (n.webhookAt !== undefined) await this.noteWebhook(n.trackingNumber, n.carrier, n.webhookAt, n.status, n.dueByWebhook);
      if (n.eventAt !== undefined) await this.noteEvent({ trackingNumber: n.trackingNumber, carrier: n.carrier, status: n.status, eventAt: n.eventAt, etaAt: n.etaAt }, n.at, n.dueByEvent);
    }
  }

  enroll(n: { trackingNumber: string; carrier: string; at: number; dueBy: number; restart: boolean }): Promise<void> {
    if (!this.entries.has(n.trackingNumber) || n.restart) {
      this.entries.set(n.trackingNumber, { trackingNumber: n.trackingNumber, carrier: n.carrier, status: null, etaAt: null, lastEventAt: null, lastWebhookAt: null, createdAt: n.at, mode: 'webhook', nextPollAt: n.dueBy, failures: 0, leaseUntil: null });
      return Promise.resolve();
    }
    const e = this.entries.get(n.trackingNumber);
    if (e !== undefined && e.nextPollAt === null) {
      e.nextPollAt = n.dueBy;
      e.failures = 0;
      if (e.status === null) e.createdAt = n.at;
    }
    return Promise.resolve();
  }

  withdraw(trackingNumber: string): Promise<void> {
    const e = this.entries.get(trackingNumber);
    if (e !== undefined) {
      e.nextPollAt = null;
      e.failures = 0;
      e.leaseUntil = null;
    }
    return Promise.resolve();
  }

  /** Test and diagnostics view of one entry (a copy). */
  get(trackingNumber: string): PollEntry | undefined {
    const e = this.entries.get(trackingNumber);
    return e === undefined ? undefined : { ...e };
  }

  /** News re-arms a stopped entry (the policy stops it again if the status is final) and may bring the next look forward, never back. */
  private pullIn(e: PollEntry, rearmAt: number, dueBy: number | undefined): void {
    if (e.nextPollAt === null) {
      e.nextPollAt = rearmAt;
      e.failures = 0;
    } else if (dueBy !== undefined && dueBy < e.nextPollAt) {
      e.nextPollAt = dueBy;
    }
  }

  private entryFor(trackingNumber: string, carrier: string, now: number, dueBy: number | undefined): PollEntry {
    let e = this.entries.get(trackingNumber);
    if (e === undefined) {
      e = { trackingNumber, carrier, status: null, etaAt: null, lastEventAt: null, lastWebhookAt: null, createdAt: now, mode: 'webhook', nextPollAt: dueBy ?? now, failures: 0, leaseUntil: null };
      this.entries.set(trackingNumber, e);
    }
    e.carrier = carrier;
    return e;
  }
}
