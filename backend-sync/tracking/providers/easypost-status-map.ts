import type { TrackingStatus } from '../tracking-event.js';

// EasyPost tracker status / status_detail → our canonical status.
// Source: EasyPost Tracker object, https://docs.easypost.com/docs/trackers (the `status` and
// `status_detail` value lists), and the Webhooks guide https://docs.easypost.com/guides/webhooks-guide.
// `null`: the value carries no scan we can place on the timeline (the detail is skipped).

export const easypostStatuses = ['unknown', 'pre_transit', 'in_transit', 'out_for_delivery', 'delivered', 'available_for_pickup', 'return_to_sender', 'failure', 'cancelled', 'error'] as const;
export type EasypostStatus = (typeof easypostStatuses)[number];

export const easypostStatusDetails = [
  'address_correction',
  'arrived_at_destination',
  'arrived_at_facility',
  'arrived_at_pickup_location',
  'awaiting_information',
  'cancelled',
  'damaged',
  'delayed',
  'delivery_exception',
  'departed_facility',
  'departed_origin_facility',
  'expired',
  'failure',
  'held',
  'in_transit',
  'label_created',
  'lost',
  'missorted',
  'out_for_delivery',
  'received_at_destination_facility',
  'received_at_origin_facility',
  'refused',
  'return',
  'status_update',
  'transferred_to_destination_carrier',
  'transit_exception',
  'unknown',
  'weather_delay',
] as const;

/** By status: the canonical status every detail of that status maps to unless refined below. */
export const easypostStatusMap: Readonly<Record<EasypostStatus, TrackingStatus | null>> = {
  unknown: null, // no information from the carrier yet
  pre_transit: 'label_created',
  in_transit: 'in_transit',
  out_for_delivery: 'out_for_delivery',
  delivered: 'delivered',
  available_for_pickup: 'available_for_pickup', // at a carrier pickup point (our own lockers report through their audit events)
  return_to_sender: 'returned_to_sender',
  failure: 'exception', // delivery failed; the carrier may still recover it
  cancelled: 'exception', // label or shipment cancelled: flagged for review, never silently dropped
  error: null, // EasyPost could not track the code: not a scan
};

/**
 * Refinements of `in_transit` by status_detail. The first acceptance scan is our picked_up
 * (EasyPost has no status of its own for it); a lost, damaged, held or delayed parcel is an
 * exception the customer hears about, recoverable by the next in-transit scan.
 */
export const easypostInTransitDetailMap: Readonly<Partial<Record<(typeof easypostStatusDetails)[number], TrackingStatus>>> = {
  received_at_origin_facility: 'picked_up',
  damaged: 'exception',
  delayed: 'exception',
  delivery_exception: 'exception',
  held: 'exception',
  lost: 'exception',
  missorted: 'exception',
  transit_exception: 'exception',
  weather_delay: 'exception',
};

export function easypostCanonicalStatus(status: string, detail: string | null | undefined): TrackingStatus | null | undefined {
  if (!(easypostStatuses as readonly string[]).includes(status)) return undefined;
  const base = easypostStatusMap[status as EasypostStatus];
  if (status === 'in_transit' && detail != null) return easypostInTransitDetailMap[detail as keyof typeof easypostInTransitDetailMap] ?? base;
  return base;
}
