import { createHash } from 'node:crypto';
import type { FakeClock } from '@locker/hal/clock/fake-clock.js';
import type { CodeEntry, Revocation } from '@locker/contract/codes/code-batch.js';
import type { DeviceStore } from './device-store.js';
import { LOCKER_ID } from './store-test-fixtures.js';

// Drives a store through months of ordinary locker life on a fake clock, for the retention
// test and the device-storage bench: the backend sends a daily delta (new parcels, and
// revocations of entries whose token expired, as backend-services.ts expireCodes does);
// couriers deposit; customers collect most parcels, the rest expire and are retrieved; the
// audit log is acknowledged as the sync agent would; the clock floor follows the runtime's
// ticks; every hour `onHour` runs whatever the runtime and the agent schedule (retention).
// Everything of one hour is one transaction: the file's content is what matters here, not
// the fsync count (the runtime commits each step on its own).

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ZERO_SIGNATURE = Buffer.alloc(64);
const FOOTER = Buffer.from('{"kid":"k1"}').toString('base64url');

export interface YearSimulationOptions {
  clock: FakeClock;
  /** The store as it is now (a test may reopen it between days). */
  store: () => DeviceStore;
  parcelsPerDay: number;
  /** Token lifetime from issue: deposit the next morning, pickup window after that. */
  tokenLifetimeMs: number;
  /** Every `uncollectedEvery`-th parcel is not collected: it expires and is retrieved. */
  uncollectedEvery: number;
  onHour: () => void;
}

/** A well-formed v4.public token with a zero signature: the store reads it, never verifies it. */
export function unsignedToken(claims: Record<string, unknown>): string {
  const body = Buffer.concat([Buffer.from(JSON.stringify(claims)), ZERO_SIGNATURE]).toString('base64url');
  return `v4.public.${body}.${FOOTER}`;
}

interface Parcel {
  entry: CodeEntry;
  exp: number;
  collectAt?: number;
  expireAt?: number;
}

type Event = { at: number; run: (store: DeviceStore, at: number) => void };

export class LockerYearSimulation {
  private serial = 0;
  private ops = 0;
  private version = 0;
  /** Pending events by the hour (epoch ms / HOUR) they fall in. */
  private readonly events = new Map<number, Event[]>();
  /** What the backend holds live for this locker: token id -> exp. */
  private readonly backendSet = new Map<string, number>();
  /** A sample of spent tokens (id, exp) for the caller's replay checks. */
  readonly spent: Array<{ tokenId: string; exp: number }> = [];
  private extra: { upserts: CodeEntry[]; revocations: Revocation[] } = { upserts: [], revocations: [] };

  constructor(private readonly o: YearSimulationOptions) {}

  /** Entries and revocations the caller adds to the next daily batch. */
  sendWithNextBatch(extra: { upserts?: CodeEntry[]; revocations?: Revocation[] }): void {
    this.extra.upserts.push(...(extra.upserts ?? []));
    this.extra.revocations.push(...(extra.revocations ?? []));
  }

  /** Simulates one day from the current clock (on the hour; events are bucketed by hour). */
  day(): void {
    const start = this.o.clock.now();
    if (start % HOUR !== 0) throw new Error('the simulation runs whole hours: start it on the hour');
    for (let h = 0; h < 24; h++) {
      const hourEnd = start + (h + 1) * HOUR;
      if (h === 6) this.backendBatch(start + 6 * HOUR);
      const store = this.o.store();
      store.transaction(() => {
        const hour = Math.floor((hourEnd - 1) / HOUR);
        const due = (this.events.get(hour) ?? []).sort((a, b) => a.at - b.at);
        this.events.delete(hour);
        for (const e of due) {
          this.o.clock.advance(Math.max(0, e.at - this.o.clock.now()));
          e.run(store, e.at);
        }
        this.o.clock.advance(hourEnd - this.o.clock.now());
        // The runtime's tick; the backend's acks carry signed time, so the clock is confirmed.
        const now = this.o.clock.now();
        store.saveClockTrust({ floorMs: now, confirmed: true, signedMaxMs: now });
        // The agent uploads continuously and the backend acks everything.
        store.acknowledgeAudit({ contiguousSeq: store.auditHighWatermark(), alsoSeqs: [] });
      });
      this.o.onHour();
    }
  }

  private backendBatch(at: number): void {
    this.o.clock.advance(Math.max(0, at - this.o.clock.now()));
    const now = this.o.clock.now();
    const revocations: Revocation[] = [];
    for (const [tokenId, exp] of this.backendSet) {
      if (exp >= now) continue;
      revocations.push({ tokenId, reason: 'expired' });
      this.backendSet.delete(tokenId);
    }
    const parcels = Array.from({ length: this.o.parcelsPerDay }, () => this.newParcel(now));
    const store = this.o.store();
    const result = store.applyCodeBatch({
      lockerId: LOCKER_ID, kind: 'delta', fromVersion: this.version, toVersion: this.version + 1,
      upserts: [...parcels.map((p) => p.entry), ...this.extra.upserts], revocations: [...revocations, ...this.extra.revocations], keyring: [],
    });
    this.extra = { upserts: [], revocations: [] };
    if (result.outcome !== 'applied') throw new Error(`simulated batch not applied: ${JSON.stringify(result)}`);
    this.version += 1;
    for (const p of parcels) this.schedule(p, now);
  }

  private newParcel(now: number): Parcel {
    const n = ++this.serial;
    const tokenId = `sim_${String(n).padStart(14, '0')}`;
    const parcelId = `PARCEL-${String(n)}`;
    const compartmentId = `C${String(n % 60)}`;
    const exp = now + this.o.tokenLifetimeMs;
    const codeDigest = createHash('sha256').update(`sim-code-${String(n)}`).digest('hex');
    const token = unsignedToken({
      jti: tokenId, iss: 'backend-sim', purpose: 'pickup', iat: new Date(now).toISOString(), nbf: new Date(now).toISOString(),
      exp: new Date(exp).toISOString(), cmp: compartmentId, par: parcelId, cdh: codeDigest,
    });
    this.backendSet.set(tokenId, exp);
    const parcel: Parcel = { entry: { tokenId, token, codeDigest, parcelId, compartmentId, size: 'M', kind: 'pickup' }, exp };
    const windowMs = exp - (now + DAY);
    if (n % this.o.uncollectedEvery === 0) parcel.expireAt = exp + HOUR;
    else parcel.collectAt = now + DAY + 2 * HOUR + ((n * 7_919_993) % Math.max(1, windowMs - 4 * HOUR));
    return parcel;
  }

  private schedule(p: Parcel, batchAt: number): void {
    const { tokenId, compartmentId, parcelId } = p.entry;
    const depositAt = batchAt + 2 * HOUR + (this.serial % 120) * 60_000;
    this.push({
      at: depositAt,
      run: (store, at) => {
        this.open(store, at, 'courier', compartmentId);
        store.markDeposited(tokenId, compartmentId, at);
        store.appendAudit('courier.deposited', 'normal', { tokenId, parcelId, compartmentId, assignedId: compartmentId });
      },
    });
    if (p.collectAt !== undefined) {
      this.push({
        at: p.collectAt,
        run: (store, at) => {
          this.open(store, at, 'pickup', compartmentId, tokenId);
          store.markTokenUsed(tokenId, 'pickup', at);
          store.markCollected(tokenId, at);
          store.appendAudit('pickup.collected', 'normal', { tokenId, parcelId, compartmentId, via: 'code', door: 'opened' });
          if (this.spent.length < 5_000) this.spent.push({ tokenId, exp: p.exp });
        },
      });
    }
    if (p.expireAt !== undefined) {
      this.push({
        at: p.expireAt,
        run: (store, at) => {
          store.markExpired(tokenId, at);
          store.appendAudit('pickup.expired', 'normal', { tokenId, parcelId, compartmentId, returnNeeded: true, by: 'sweep' });
        },
      });
      this.push({
        // Before the backend's next batch, which revokes the expired entry.
        at: p.expireAt + 10 * HOUR,
        run: (store, at) => {
          const retrievalId = `ret_${tokenId}`;
          this.open(store, at, 'return-retrieval', compartmentId, retrievalId);
          store.markTokenUsed(retrievalId, 'return-retrieval', at, at + 2 * DAY);
          store.markRetrieved(tokenId, at);
          store.appendAudit('return.retrieval-opened', 'normal', { tokenId: retrievalId, compartmentId, parcelId, door: 'opened' });
        },
      });
    }
  }

  private push(e: Event): void {
    const hour = Math.floor(e.at / HOUR);
    const bucket = this.events.get(hour);
    if (bucket === undefined) this.events.set(hour, [e]);
    else bucket.push(e);
  }

  private open(store: DeviceStore, at: number, reason: 'courier' | 'pickup' | 'return-retrieval', compartmentId: string, tokenId?: string): void {
    const opId = `op_${String(++this.ops)}`;
    store.beginOpen({ opId, compartmentId, reason, startedAt: at, ...(tokenId === undefined ? {} : { tokenId }) });
    store.finishOpen(opId, 'opened', at + 1_000);
    store.appendAudit('door.closed', 'normal', { compartmentId, openMs: 20_000, commanded: true, opId });
  }
}
