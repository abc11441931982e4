import type { TrackingStatus } from '../tracking-event.js';

// AfterShip tag / subtag → our canonical status.
// Sources: Delivery statuses https://www.aftership.com/docs/tracking/enum/delivery-statuses,
// Delivery sub-statuses https://www.aftership.com/docs/tracking/2026-07/enum/delivery-sub-statuses
// and the 2026-07 webhook changelog.
// The tag decides; a few subtags refine it. A subtag we do not list (AfterShip adds some from
// time to time) falls back to its tag. `null`: no scan to place on the timeline (skipped).

export const aftershipTags = ['Pending', 'InfoReceived', 'InTransit', 'OutForDelivery', 'AttemptFail', 'Delivered', 'AvailableForPickup', 'Exception', 'Expired'] as const;
export type AftershipTag = (typeof aftershipTags)[number];

export const aftershipTagMap: Readonly<Record<AftershipTag, TrackingStatus | null>> = {
  Pending: null, // added to AfterShip, nothing from the carrier yet
  InfoReceived: 'label_created',
  InTransit: 'in_transit',
  OutForDelivery: 'out_for_delivery',
  AttemptFail: 'exception', // a failed delivery attempt; the next out-for-delivery scan recovers it
  Delivered: 'delivered',
  AvailableForPickup: 'available_for_pickup', // at a carrier pickup point
  Exception: 'exception',
  Expired: null, // no carrier information for 30 days: not a scan
};

/** Subtags whose meaning differs from their tag's (all others follow the tag). */
export const aftershipSubtagMap: Readonly<Record<string, TrackingStatus>> = {
  InTransit_002: 'picked_up', // acceptance scan: the carrier took the parcel
  Exception_010: 'returned_to_sender', // returning to sender
  Exception_011: 'returned_to_sender', // returned to sender
};

/** Documented subtags (for the mapping test and the docs table). */
export const aftershipSubtags = [
  'InfoReceived_001',
  'InTransit_001', 'InTransit_002', 'InTransit_003', 'InTransit_004', 'InTransit_005', 'InTransit_006', 'InTransit_007', 'InTransit_008', 'InTransit_009',
  'OutForDelivery_001', 'OutForDelivery_003', 'OutForDelivery_004',
  'AttemptFail_001', 'AttemptFail_002', 'AttemptFail_003',
  'Delivered_001', 'Delivered_002', 'Delivered_003', 'Delivered_004', 'Delivered_005',
  'AvailableForPickup_001',
  'Exception_001', 'Exception_002', 'Exception_003', 'Exception_004', 'Exception_005', 'Exception_006', 'Exception_007', 'Exception_008', 'Exception_009', 'Exception_010', 'Exception_011', 'Exception_012', 'Exception_013',
  // Added in API 2026-07 (webhook changelog: delays by processing issue or weather, documents
  // missing, a cancelled or disposed shipment; three more in-transit steps): they follow their tag.
  'Exception_016', 'Exception_017', 'Exception_018', 'Exception_019', 'Exception_020', 'Exception_021',
  'InTransit_011', 'InTransit_012', 'InTransit_013',
  'Pending_001', 'Pending_002', 'Pending_003', 'Pending_004', 'Pending_005', 'Pending_006',
  'Expired_001',
] as const;

/** undefined: the tag is not one AfterShip documents. */
export function aftershipCanonicalStatus(tag: string, subtag: string | null | undefined): TrackingStatus | null | undefined {
  if (!(aftershipTags as readonly string[]).includes(tag)) return undefined;
  const refined = subtag == null ? undefined : aftershipSubtagMap[subtag];
  // A subtag only refines its own tag: a payload pairing InTransit with Exception_011 keeps InTransit.
  if (refined !== undefined && subtag?.startsWith(`${tag}_`) === true) return refined;
  return aftershipTagMap[tag as AftershipTag];
}
