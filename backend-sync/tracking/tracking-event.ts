import { z } from 'zod';

// The canonical tracking event: what every source (a provider webhook, our own webhook
// format, a polled carrier API, a locker's audit event) is turned into before it enters a
// shipment's timeline. Adapters produce it; the intake persists it with the raw payload it
// came from; the applier folds it into the current state (docs/backend.md, "Tracking").
//
// Times are epoch ms. `eventTime` is when the carrier says the scan happened; the receive
// time is stamped by the intake, never taken from the payload.

export const trackingStatuses = [
  'label_created',
  'picked_up',
  'in_transit',
  'out_for_delivery',
  'delivered',
  'exception', // recoverable: a later in_transit (or further) scan moves it on
  'returned_to_sender',
  // Locker parcels only, fed by the lockers' own audit events:
  'available_for_pickup', // deposited in a compartment
  'collected', // taken out by the customer
] as const;
export const TrackingStatus = z.enum(trackingStatuses);
export type TrackingStatus = z.infer<typeof TrackingStatus>;

/** Where an event came from; also names the raw payload's format. */
export const trackingSources = ['easypost', 'aftership', 'canonical', 'poll', 'locker'] as const;
export const TrackingSource = z.enum(trackingSources);
export type TrackingSource = z.infer<typeof TrackingSource>;

export const TrackingLocation = z
  .object({
    facility: z.string().max(200).optional(),
    city: z.string().max(120).optional(),
    /** ISO 3166-1 alpha-2 when the source gives one; free text otherwise. */
    country: z.string().max(64).optional(),
    lat: z.number().min(-90).max(90).optional(),
    lng: z.number().min(-180).max(180).optional(),
  })
  .strict();
export type TrackingLocation = z.infer<typeof TrackingLocation>;

/** Carrier codes are compared lowercase, without spaces ("USPS" and "usps" are one carrier). */
export const CarrierCode = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .transform((s) => s.toLowerCase().replace(/\s+/g, '_'));

/**
 * One spelling per parcel: carriers print capitals (1Z…), merchants and customers type
 * either, and a number typed in small letters must join the carrier's timeline, not start
 * one of its own. Every boundary that takes a number (webhooks, polls, the canonical batch,
 * a new shipment, GET /track) reads it through this, so it is stored and looked up in capitals.
 */
export const TrackingNumber = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._-]+$/, 'tracking number: letters, digits, dot, dash, underscore')
  .transform((s) => s.toUpperCase());

export const CanonicalTrackingEvent = z
  .object({
    trackingNumber: TrackingNumber,
    carrier: CarrierCode,
    /** The carrier's own id for this scan, when it gives one (first dedupe level). */
    carrierEventId: z.string().min(1).max(200).optional(),
    status: TrackingStatus,
    /** The carrier's status word and detail as sent (kept for review and display). */
    carrierStatus: z.string().max(200),
    carrierReason: z.string().max(500).optional(),
    eventTime: z.number().int().nonnegative(),
    location: TrackingLocation.optional(),
    /** The carrier's promised delivery instant, when this scan carries one (ETA input). */
    estimatedDeliveryAt: z.number().int().nonnegative().optional(),
    /** Locker events: which locker and compartment (available_for_pickup, collected). */
    lockerId: z.string().min(1).max(64).optional(),
    compartmentId: z.string().min(1).max(64).optional(),
  })
  .strict();
export type CanonicalTrackingEvent = z.infer<typeof CanonicalTrackingEvent>;

/**
 * Our lockers' events carry `locker:<step>:<shipmentId>` as their event id (orders/parcel-events.ts):
 * their dedupe identity. Only the lockers and a replay of their dead letters may use it; a
 * caller of POST /tracking/events holding one is refused, so it cannot take a door event's
 * identity (which would make the real one a duplicate) or pass a carrier scan off as one.
 */
export const LOCKER_EVENT_ID_PREFIX = 'locker:';
export const lockerEventId = (step: string, shipmentId: string): string => `${LOCKER_EVENT_ID_PREFIX}${step}:${shipmentId}`;

/** Our own webhook format (`POST /tracking/events`): a batch of canonical events. */
export const CanonicalTrackingBatch = z.object({ events: z.array(CanonicalTrackingEvent).min(1).max(1000) }).strict();
export type CanonicalTrackingBatch = z.infer<typeof CanonicalTrackingBatch>;

/** A payload as it arrived, before or after parsing; kept so any event can be traced back. */
export interface RawTrackingPayload {
  source: TrackingSource;
  /** The body exactly as received (webhooks: the bytes the signature covers, as UTF-8). */
  body: string;
  receivedAt: number;
}

export interface IntakeReceipt {
  /** Id of the stored raw payload the events reference. */
  payloadId: string;
  /** Events persisted for application (before dedupe, which the applier does). */
  received: number;
}

/**
 * The seam between sources and the tracking core. `accept` persists the raw payload and its
 * events durably and returns; folding them into state happens after (accept, persist,
 * acknowledge, then apply), so a burst never blocks the API. `deadLetter` keeps a payload
 * that could not be parsed, with the reason, for review.
 */
export interface TrackingIntake {
  /**
   * `order.revisedAt`: a revised promise with no scan of its own is ordered among the
   * revisions of its scan by when the provider made it (promise-revise.ts), never later than
   * the payload was received. The events still enter the inbox received when the payload was:
   * the apply lag, purges, the composite window and the poll schedule measure arrivals.
   */
  accept(raw: RawTrackingPayload, events: readonly CanonicalTrackingEvent[], order?: { revisedAt: number }): Promise<IntakeReceipt>;
  deadLetter(raw: RawTrackingPayload, reason: string): Promise<{ deadLetterId: string }>;
}
