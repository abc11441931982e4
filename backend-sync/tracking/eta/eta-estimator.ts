import type { TrackingStatus } from '../tracking-event.js';
import { isLearnedStatus, type LearnedStatus, legStat, type LegStats, variance } from './leg-stats.js';

// The ETA estimator, pure: estimateEta(input) → {eta, earliest, latest, basis} | null.
//
// Seam for the tracking core (its etaFor(...), called on each applied scan): pass
//   status       the projected status after the scan
//   carrier      canonical carrier code
//   promisedAt   the carrier's promised delivery instant, if the shipment has one
//   lastEventAt  event time of the last applied scan (learned legs are measured from it)
//   now          the clock's now (an estimate is never in the past)
//   stats        learned leg times (leg-stats.ts; learnLeg on each arrival, mergeLegStats to combine)
// and store eta/earliest/latest (epoch ms) and basis with the state. null means "no ETA":
// the parcel has arrived (delivered, in a locker, collected) or is going back to the sender.
//
// How: the carrier's promise first; leg times learned from past shipments (this carrier,
// this status, from at least minSamples past shipments) refine it, weighted by precision (1/variance), so a
// promise counts as much as learned legs with a spread of promiseSdMs, and more data makes
// the learned side weigh more and the window narrower. No promise: learned legs alone; no
// data at all: a default remaining time per status. The window is eta ± z·sd (z = 1.645,
// about 90 %). While in exception the learned leg is exception's own if known, else
// in_transit's (what it recovers to), and the late side of the window is widened.
// A promise already in the past is stale (the carrier missed it) and is ignored.

const HOUR = 3_600_000;

export type EtaBasis = 'carrier_promise' | 'carrier_promise_refined' | 'learned_legs' | 'status_default';

export interface EtaInput {
  status: TrackingStatus;
  carrier: string;
  promisedAt?: number | undefined;
  lastEventAt: number;
  now: number;
  stats: LegStats;
}

export interface EtaEstimate {
  eta: number;
  earliest: number;
  latest: number;
  basis: EtaBasis;
  /** The window was widened because the shipment is in exception. */
  widenedForException: boolean;
  /** Past shipments behind the learned leg of the estimate (0 when none was used). */
  samples: number;
}

export interface EtaConfig {
  /** Learned legs are used once this many past shipments (not scans) contributed to the cell. */
  minSamples: number;
  /** Standard deviations each side of the estimate. */
  z: number;
  /** How far a carrier's promise is trusted, as a standard deviation. */
  promiseSdMs: number;
  /** Floor under any standard deviation (identical samples must not give a zero-width window). */
  minSdMs: number;
  /** With no promise and no data: time from the last scan to arrival, sd = half of it (exception: in_transit's, widened). */
  defaultRemainingMs: Record<Exclude<LearnedStatus, 'exception'>, number>;
  /** Exception: the late half-width is multiplied by this and extended by extraMs. */
  exception: { factor: number; extraMs: number };
}

export const defaultEtaConfig: EtaConfig = {
  minSamples: 5,
  z: 1.645,
  promiseSdMs: 12 * HOUR,
  minSdMs: 15 * 60_000,
  defaultRemainingMs: { label_created: 96 * HOUR, picked_up: 72 * HOUR, in_transit: 48 * HOUR, out_for_delivery: 6 * HOUR },
  exception: { factor: 2, extraMs: 24 * HOUR },
};

interface Normal {
  mean: number;
  sd: number;
}

export function estimateEta(input: EtaInput, cfg: EtaConfig = defaultEtaConfig): EtaEstimate | null {
  const { status, now } = input;
  // Every status still travelling has a learned leg; the others (arrived, returning) have no ETA.
  if (!isLearnedStatus(status)) return null;
  const inException = status === 'exception';
  const legStatus = learnedLegStatus(status, input, cfg);
  const stat = legStat(input.stats, input.carrier, legStatus);
  const learned: Normal | undefined =
    stat !== undefined && stat.shipments >= cfg.minSamples
      ? // Spread of the legs plus the uncertainty of their mean. The mean is only as sure as
        // the number of shipments behind it: one parcel's many scans share its one delay.
        { mean: input.lastEventAt + stat.mean, sd: Math.max(cfg.minSdMs, Math.sqrt(variance(stat) * (1 + 1 / stat.shipments))) }
      : undefined;
  const promise: Normal | undefined = input.promisedAt !== undefined && input.promisedAt >= now ? { mean: input.promisedAt, sd: cfg.promiseSdMs } : undefined;

  let basis: EtaBasis;
  let est: Normal;
  if (promise !== undefined && learned !== undefined) {
    const wp = 1 / promise.sd ** 2;
    const wl = 1 / learned.sd ** 2;
    est = { mean: (promise.mean * wp + learned.mean * wl) / (wp + wl), sd: Math.max(cfg.minSdMs, 1 / Math.sqrt(wp + wl)) };
    basis = 'carrier_promise_refined';
  } else if (promise !== undefined) {
    est = promise;
    basis = 'carrier_promise';
  } else if (learned !== undefined) {
    est = learned;
    basis = 'learned_legs';
  } else {
    const remaining = cfg.defaultRemainingMs[legStatus === 'exception' ? 'in_transit' : legStatus];
    est = { mean: input.lastEventAt + remaining, sd: Math.max(cfg.minSdMs, remaining / 2) };
    basis = 'status_default';
  }

  // Never in the past: a late parcel is due from now on, with at least the usual spread.
  const half = cfg.z * est.sd;
  const eta = Math.round(Math.max(est.mean, now));
  const earliest = Math.round(Math.min(eta, Math.max(est.mean - half, now)));
  let latest = Math.round(eta + half);
  if (inException) latest = Math.round(eta + (latest - eta) * cfg.exception.factor + cfg.exception.extraMs);
  const samples = learned !== undefined && stat !== undefined ? stat.shipments : 0;
  return { eta, earliest, latest, basis, widenedForException: inException, samples };
}

/** Which learned leg applies: the status's own; in exception, in_transit's until exception has enough data of its own. */
function learnedLegStatus(s: LearnedStatus, input: EtaInput, cfg: EtaConfig): LearnedStatus {
  if (s !== 'exception') return s;
  const own = legStat(input.stats, input.carrier, 'exception');
  return own !== undefined && own.shipments >= cfg.minSamples ? 'exception' : 'in_transit';
}
