import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { SweepTask } from '../../shared/sweeper.js';
import type { CanonicalTrackingEvent, RawTrackingPayload, TrackingIntake, TrackingStatus } from '../tracking-event.js';
import { type CarrierFetchResult, type CarrierTrackingClient, isCarrierTrackingError, type CarrierErrorCode } from './carrier-tracking-client.js';
import { backoffMs, boundedRetryAfterMs, decideAfterFailure, decideAfterSuccess, decideDue, defaultPollPolicy, type PollDecision, type PollPolicyConfig } from './hybrid-poll-policy.js';
import type { PollEntry, PollSchedulePort } from './poll-schedule-port.js';
import { InMemoryCarrierBudgets, type CarrierBudgetPort } from './carrier-budget-port.js';

// The polling shell: gathers facts (due entries, the carrier's answer), asks the pure
// policy, executes (intake, dead letter, reschedule). One round claims due entries under a
// lease (so other instances skip them), lets the policy turn the ones whose webhooks are
// still flowing into a later check, groups the rest per carrier into batches, spends one
// token of the carrier's bucket per request (no token: the batch is rescheduled for when
// one will be there, without counting a failure), and feeds every polled event to the
// intake with the response text as the raw payload. A 429 or a failed request pauses the
// carrier's bucket (Retry-After, or exponential backoff per carrier), so the rest of the
// round does not hammer a carrier that is down. The buckets are the store's, shared by every
// instance (carrier-budget-port.ts); the failure count behind the backoff is this process's.

export interface TrackingPollerOptions {
  schedule: PollSchedulePort;
  clients: readonly CarrierTrackingClient[];
  intake: TrackingIntake;
  clock: Clock;
  logger: Logger;
  /** [0, 1): backoff jitter. Tests pass a fixed or seeded source. */
  random: () => number;
  policy?: PollPolicyConfig | undefined;
  /** Entries claimed per round. */
  claimLimit: number;
  /** Must outlast a round: requests × the client's timeout. An expired lease lets another instance take the entry. */
  leaseMs: number;
  /** For start(): time between rounds. */
  intervalMs: number;
  /** The carriers' request budgets; default: this process's alone. */
  budgets?: CarrierBudgetPort | undefined;
}

interface CarrierState {
  /** Consecutive failed requests, for the carrier-level pause. */
  failures: number;
}

export class TrackingPoller {
  private readonly log: Logger;
  private readonly policy: PollPolicyConfig;
  private readonly clients: ReadonlyMap<string, CarrierTrackingClient>;
  private readonly carriers = new Map<string, CarrierState>();
  private readonly budgets: CarrierBudgetPort;
  private abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly o: TrackingPollerOptions) {
    this.log = o.logger.child({ component: 'tracking-poller' });
    this.policy = o.policy ?? defaultPollPolicy;
    this.clients = new Map(o.clients.map((c) => [c.carrier, c]));
    this.budgets = o.budgets ?? new InMemoryCarrierBudgets();
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.run().catch((err: unknown) => this.log.error({ err: message(err) }, 'tracking.poll_round_failed')), this.o.intervalMs);
    this.timer.unref();
  }

  /**
   * Stops the timer, aborts requests in flight and waits for the round to end. Their numbers
   * are left as they were, due, for the next round here or elsewhere: our shutdown is not the
   * carrier's failure, so it neither backs them off nor pauses the bucket every instance shares.
   */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.running?.catch(() => undefined);
    this.abort = new AbortController();
  }

  /** For the backend's Sweeper instead of start()/stop(). */
  task(): SweepTask {
    return { name: 'tracking-poll', run: () => this.run() };
  }

  /** One round; resolves to how many numbers were fetched. Overlapping calls share the round in flight. */
  run(): Promise<number> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(): Promise<number> {
    const { schedule, clock } = this.o;
    const claimed = await schedule.claimDue(clock.now(), this.o.claimLimit, this.o.leaseMs);
    const byCarrier = new Map<string, PollEntry[]>();
    for (const e of claimed) {
      const client = this.clients.get(e.carrier);
      const d: PollDecision = client === undefined ? { action: 'stop', mode: e.mode, nextPollAt: null, failures: e.failures, reasons: [] } : decideDue(e, clock.now(), this.policy);
      if (d.action === 'poll') {
        if (e.mode === 'webhook') this.log.info({ trackingNumber: e.trackingNumber, carrier: e.carrier, status: e.status }, 'tracking.poll_promoted');
        const group = byCarrier.get(e.carrier) ?? [];
        group.push(e);
        byCarrier.set(e.carrier, group);
        continue;
      }
      if (client === undefined) this.log.debug({ trackingNumber: e.trackingNumber, carrier: e.carrier }, 'tracking.poll_no_adapter');
      if (d.reasons.includes('demoted_by_webhook')) this.log.info({ trackingNumber: e.trackingNumber, carrier: e.carrier }, 'tracking.poll_demoted');
      await this.reschedule(e, d);
    }
    // Carriers in parallel (each has its own budget), each carrier's batches in order.
    const signal = this.abort.signal;
    const fetched = await Promise.all([...byCarrier].map(([carrier, entries]) => this.pollCarrier(this.clients.get(carrier)!, entries, signal)));
    return fetched.reduce((a, b) => a + b, 0);
  }

  private async pollCarrier(client: CarrierTrackingClient, entries: PollEntry[], signal: AbortSignal): Promise<number> {
    const state = this.carriers.get(client.carrier) ?? { failures: 0 };
    this.carriers.set(client.carrier, state);
    let fetched = 0;
    let waiting = 0;
    for (let i = 0; i < entries.length; i += client.maxBatch) {
      const batch = entries.slice(i, i + client.maxBatch);
      if (signal.aborted) {
        await this.release(batch);
        continue;
      }
      const now = this.o.clock.now();
      const t = await this.budgets.take(client.carrier, client.rateLimit, now);
      if (!t.ok) {
        // Out of budget: the batch waits for its token (the k-th waiting batch for the k-th
        // token, so they do not all come due together); not the shipment's failure.
        const at = now + t.waitMs + Math.ceil((waiting++ * 1000) / client.rateLimit.requestsPerSecond);
        for (const e of batch) await this.reschedule(e, { action: 'wait', mode: 'polling', nextPollAt: at, failures: e.failures, reasons: [] });
        continue;
      }
      fetched += await this.pollBatch(client, state, batch, signal);
    }
    return fetched;
  }

  /** Resolves to how many numbers were fetched (0 when stop() aborted the request). */
  private async pollBatch(client: CarrierTrackingClient, state: CarrierState, batch: PollEntry[], signal: AbortSignal): Promise<number> {
    const { clock, intake } = this.o;
    let result: CarrierFetchResult;
    try {
      result = await client.fetch(
        batch.map((e) => e.trackingNumber),
        signal,
      );
    } catch (err) {
      if (signal.aborted) {
        this.log.info({ carrier: client.carrier, numbers: batch.length }, 'tracking.poll_aborted');
        await this.release(batch);
        return 0;
      }
      const code: CarrierErrorCode = isCarrierTrackingError(err) ? err.code : 'TRANSIENT';
      const retryAfterMs = boundedRetryAfterMs(isCarrierTrackingError(err) ? err.options.retryAfterMs : undefined, this.policy);
      state.failures++;
      const pauseMs = Math.max(retryAfterMs ?? 0, backoffMs(state.failures, this.o.random(), this.policy));
      await this.budgets.pause(client.carrier, client.rateLimit, clock.now(), pauseMs);
      this.log.warn({ carrier: client.carrier, code, numbers: batch.length, pauseMs, err: message(err) }, 'tracking.poll_failed');
      if (isCarrierTrackingError(err, 'UNPARSEABLE') && err.options.body !== undefined) await this.deadLetter(client, err.options.body, err.message);
      for (const e of batch) await this.reschedule(e, decideAfterFailure(e, { code, retryAfterMs }, clock.now(), this.o.random(), this.policy));
      return batch.length;
    }
    state.failures = 0;

    // Every answer is ingested, also one for a number withdrawn (its shipment cancelled) or
    // taken over by another instance while the request was out: its scans are real, and the
    // intake's dedupe makes a second copy harmless. Only the schedule is fenced: reschedule
    // keeps nothing for an entry whose lease is gone, and an applied event alone never
    // re-arms a withdrawn one (poll-schedule-news.ts).
    const receivedAt = clock.now();
    const events: CanonicalTrackingEvent[] = [];
    const unparseable: string[] = [];
    for (const e of batch) {
      const r = result.results.get(e.trackingNumber);
      if (r?.ok === true) events.push(...r.events);
      else if (r?.code === 'UNPARSEABLE') unparseable.push(`${e.trackingNumber}: ${r.reason}`);
    }
    if (unparseable.length > 0) await this.deadLetter(client, result.body, unparseable.join('; ').slice(0, 2_000));
    if (events.length > 0) {
      try {
        await intake.accept({ source: 'poll', body: result.body, receivedAt }, events);
      } catch (err) {
        // Not persisted: the events are fetched again at the retry, nothing is lost.
        this.log.error({ carrier: client.carrier, events: events.length, err: message(err) }, 'tracking.poll_intake_failed');
        for (const e of batch) await this.reschedule(e, decideAfterFailure(e, { code: 'TRANSIENT' }, clock.now(), this.o.random(), this.policy));
        return batch.length;
      }
    }
    for (const e of batch) {
      const r = result.results.get(e.trackingNumber) ?? { ok: false, code: 'NOT_FOUND', reason: 'absent from the response' };
      if (!r.ok) {
        this.log.info({ trackingNumber: e.trackingNumber, carrier: client.carrier, code: r.code, reason: r.reason }, 'tracking.poll_number_failed');
        await this.reschedule(e, decideAfterFailure(e, { code: r.code }, clock.now(), this.o.random(), this.policy));
        continue;
      }
      const seen = newest(e, r.events);
      await this.reschedule(e, decideAfterSuccess(seen, clock.now(), this.policy), seen);
    }
    this.log.debug({ carrier: client.carrier, numbers: batch.length, events: events.length }, 'tracking.poll_applied');
    return batch.length;
  }

  /** Gives claimed entries back untouched (still due, same failures), for whoever polls next. */
  private async release(batch: readonly PollEntry[]): Promise<void> {
    for (const e of batch) await this.reschedule(e, { action: 'wait', mode: e.mode, nextPollAt: e.nextPollAt, failures: e.failures, reasons: [] });
  }

  private async deadLetter(client: CarrierTrackingClient, body: string, reason: string): Promise<void> {
    const raw: RawTrackingPayload = { source: 'poll', body, receivedAt: this.o.clock.now() };
    try {
      const { deadLetterId } = await this.o.intake.deadLetter(raw, `${client.carrier}: ${reason}`);
      this.log.warn({ carrier: client.carrier, deadLetterId }, 'tracking.poll_dead_lettered');
    } catch (err) {
      this.log.error({ carrier: client.carrier, err: message(err) }, 'tracking.poll_dead_letter_failed');
    }
  }

  private async reschedule(e: PollEntry, d: PollDecision, seen?: { status: TrackingStatus | null; etaAt: number | null }): Promise<void> {
    const kept = await this.o.schedule.reschedule(e.trackingNumber, e.leaseUntil ?? 0, {
      nextPollAt: d.nextPollAt,
      failures: d.failures,
      mode: d.mode,
      status: seen?.status ?? undefined,
      etaAt: seen?.etaAt ?? undefined,
    });
    if (!kept) this.log.warn({ trackingNumber: e.trackingNumber }, 'tracking.poll_lease_lost');
    else if (d.reasons.length > 0) this.log.debug({ trackingNumber: e.trackingNumber, nextPollAt: d.nextPollAt, reasons: d.reasons }, 'tracking.poll_rescheduled');
  }
}

/** The status and ETA a poll saw: its newest event, unless the entry already knows a newer one. */
function newest(e: PollEntry, events: readonly CanonicalTrackingEvent[]): { status: TrackingStatus | null; etaAt: number | null } {
  let status = e.status;
  let at = e.lastEventAt ?? -Infinity;
  let etaAt = e.etaAt;
  let etaFrom = -Infinity;
  for (const ev of events) {
    if (ev.eventTime >= at) {
      at = ev.eventTime;
      status = ev.status;
    }
    if (ev.estimatedDeliveryAt !== undefined && ev.eventTime >= etaFrom) {
      etaFrom = ev.eventTime;
      etaAt = ev.estimatedDeliveryAt;
    }
  }
  return { status, etaAt };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
