import { GENESIS_PREV_HASH, auditRecordHash } from '../shared/contract.js';
import type { AuditRepository } from '../store/store.js';

// How far an audit ack may promise (docs/protocol.md, audit-ack). A record of the upload
// that the backend holds hash for hash, at seq n, vouches through the hash chain for the
// locker's records between its acked watermark and n — but only if the STORED chain is
// unbroken over that span: at a break, the backend's record below may be another one than
// the locker's (a restored copy's own record, an altered one), and an ack covering it would
// make the locker forget a record the backend never stored.
//
// Guaranteed: an ack never covers a seq above the uploading locker's watermark that the
// backend does not hold, nor a break the ingest flagged there. Below the watermark nothing is
// checked — the locker already let those records go (acked before, or pruned).
//
// A missing record is never flagged as a break (a missing neighbour is no broken link), and
// the stored contiguous prefix does not rule one out either: it starts at the highest
// watermark any upload of the epoch claimed, so it may lie above a hole that a locker
// uploading from a LOWER watermark (a restored copy of its database, same epoch) still has
// to send. So every span is first counted (one index range read, no record read); only a
// short count looks for the hole, by halving the range.
//
// The epoch's chain state keeps only its lowest break (audit_state.chain_broken_at). When
// that lies above the watermark it bounds the answer. When it lies at or below, it says
// nothing about the span above — a second break there used to go unseen — so the span is
// checked from the stored records themselves, exactly as the ingest checks each record when
// it arrives (its hash, its link to the stored record before it), plus any missing record.
// Records never change once stored, so this finds every break the ingest flagged (and
// alerted) in the span, and nothing new to alert.

/** Records read per query while checking a span. */
const SPAN_PAGE = 512;
/**
 * With a break at or below the watermark, at most this many records above it are read for one
 * ack; beyond, nothing is vouched for (the records still go in alsoSeqs, and the locker's
 * watermark follows them, so the next upload's span starts higher).
 */
export const MAX_VOUCHED_SPAN = 8192;
/**
 * Without one, at most this many seqs above the watermark are counted for one ack (one count
 * over at most this many primary-key entries, ceil(log2) more over halving ranges when a record
 * is missing); beyond, nothing is vouched for. Unlike the walk, this bound is met by ordinary
 * traffic if it is too small: every upload of a locker's in-flight window carries the
 * watermark it had when sending, and one not acked through its last record never finishes
 * (the locker stalls for ackTimeoutMs and sends the window again). The largest window a
 * locker may configure is 64 uploads of 256 records (sync/agent/sync-config.ts), 16384 seqs
 * plus the priority records between them; this leaves as many again for those.
 */
export const MAX_COUNTED_SPAN = 32768;

/**
 * The lowest seq above `ackedSeq` through which the stored chain of (locker, epoch) cannot
 * vouch, looking no further than `upTo`; undefined when it vouches all the way. A break
 * flagged at `ackedSeq + 1` counts, as the stored marker always did, and so does a record
 * the backend does not hold.
 */
export async function lowestBreakAbove(
  audit: AuditRepository,
  lockerId: string,
  epoch: string,
  ackedSeq: number,
  upTo: number,
  bounds: { walked?: number; counted?: number } = {},
): Promise<number | undefined> {
  const lowest = await audit.chainBrokenAt(lockerId, epoch);
  if (lowest !== undefined && lowest <= ackedSeq) return walkSpan(audit, lockerId, epoch, ackedSeq, upTo, bounds.walked ?? MAX_VOUCHED_SPAN);
  // No flagged break in the span below `lowest`, but perhaps a record the backend never got.
  const missing = await firstMissingAbove(audit, lockerId, epoch, ackedSeq, lowest === undefined ? upTo : Math.min(upTo, lowest - 1), bounds.counted ?? MAX_COUNTED_SPAN);
  return missing ?? lowest;
}

/**
 * The lowest seq in (afterSeq, upTo] the backend holds no record for — past the span bound,
 * the first seq beyond it; undefined when it holds them all.
 */
async function firstMissingAbove(audit: AuditRepository, lockerId: string, epoch: string, afterSeq: number, upTo: number, maxSpan: number): Promise<number | undefined> {
  if (upTo <= afterSeq) return undefined;
  const last = Math.min(upTo, afterSeq + maxSpan);
  const full = async (from: number, to: number): Promise<boolean> => (await audit.countSpan(lockerId, epoch, from, to)) === to - from;
  if (await full(afterSeq, last)) return last < upTo ? last + 1 : undefined;
  // Every record in (afterSeq, lo - 1] is held; one in [lo, hi] is not.
  let lo = afterSeq + 1;
  let hi = last;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (await full(lo - 1, mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The span checked record by record, as the ingest checked each: held, hash, link. */
async function walkSpan(audit: AuditRepository, lockerId: string, epoch: string, ackedSeq: number, upTo: number, maxSpan: number): Promise<number | undefined> {
  if (upTo <= ackedSeq) return undefined;
  const last = Math.min(upTo, ackedSeq + maxSpan);
  let prevHash = ackedSeq === 0 ? GENESIS_PREV_HASH : (await audit.get(lockerId, epoch, ackedSeq))?.hash;
  let expected = ackedSeq + 1;
  while (expected <= last) {
    const page = await audit.span(lockerId, epoch, expected - 1, last, SPAN_PAGE);
    for (const r of page) {
      if (r.seq !== expected) return expected;
      if (auditRecordHash(r.prevHash, r.seq, r.at, r.type, r.dataJson) !== r.hash) return r.seq;
      // No stored record before it (below the watermark, never uploaded): the ingest could not
      // check that link either, and the locker has already let those records go.
      if (prevHash !== undefined && r.prevHash !== prevHash) return r.seq;
      prevHash = r.hash;
      expected++;
    }
    if (page.length === 0) return expected;
  }
  return last < upTo ? last + 1 : undefined;
}

/**
 * The ack's contiguous seq: the stored contiguous prefix, but no further than the highest
 * held seq below `brokenAbove` (the lowest seq above the locker's watermark the chain cannot
 * vouch through, lowestBreakAbove) or the locker's own watermark.
 */
export function ackableSeq(storedContiguous: number, lockerAckedSeq: number, held: ReadonlySet<number>, brokenAbove: number | undefined): number {
  const vouching = [...held].filter((s) => brokenAbove === undefined || s < brokenAbove);
  return Math.min(storedContiguous, Math.max(lockerAckedSeq, ...vouching));
}
