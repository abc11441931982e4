import { z } from 'zod';
import type { TrackingStatus } from '../tracking-event.js';

// The response shape of a plain JSON REST carrier tracking API, the one our simulated
// carrier (testing/simulated-carrier-api.ts) serves and json-rest-carrier-client.ts reads.
// One schema for both sides; documented in docs/backend.md ("Tracking: polling and ETA").
//
//   GET /v1/tracking?numbers=A,B            (at most maxBatch numbers, comma-separated)
//   200 {"results":[{"number":"A","found":true,"estimated_delivery":"2026-12-04T18:00:00Z",
//         "scans":[{"id":"s1","code":"IT","description":"Departed hub","occurred_at":"…Z",
//                   "location":{"facility":"HUB-1","city":"Lyon","country":"FR"}}]},
//        {"number":"B","found":false}]}
//   429 + Retry-After: <seconds>   over the rate limit
//   5xx                             carrier trouble (retry later)
//   400                             malformed request (never retried as is)

/** The carrier's scan codes and our canonical status for each. */
export const jsonRestScanCodes = {
  LC: 'label_created', // label created, parcel not handed over yet
  PU: 'picked_up',
  AR: 'in_transit', // arrived at a facility
  DP: 'in_transit', // departed a facility
  IT: 'in_transit',
  OD: 'out_for_delivery',
  DL: 'delivered',
  EX: 'exception', // delay, damage, address problem: the description says which
  RS: 'returned_to_sender',
} as const satisfies Record<string, TrackingStatus>;
export type JsonRestScanCode = keyof typeof jsonRestScanCodes;

const scanCode = z.enum(Object.keys(jsonRestScanCodes) as [JsonRestScanCode, ...JsonRestScanCode[]]);

export const JsonRestScan = z.object({
  id: z.string().min(1).max(200),
  code: scanCode,
  description: z.string().max(500),
  occurred_at: z.iso.datetime({ offset: true }),
  location: z
    .object({ facility: z.string().max(200).optional(), city: z.string().max(120).optional(), country: z.string().max(64).optional() })
    .nullable()
    .optional(),
});
export type JsonRestScan = z.infer<typeof JsonRestScan>;

export const JsonRestTracking = z.discriminatedUnion('found', [
  z.object({
    number: z.string().min(1).max(64),
    found: z.literal(true),
    estimated_delivery: z.iso.datetime({ offset: true }).nullable(),
    scans: z.array(JsonRestScan).max(500),
  }),
  z.object({ number: z.string().min(1).max(64), found: z.literal(false) }),
]);
export type JsonRestTracking = z.infer<typeof JsonRestTracking>;

/** The envelope is checked first; each result on its own, so one bad entry spoils only its number. */
export const JsonRestEnvelope = z.object({ results: z.array(z.unknown()).max(1000) });

export interface JsonRestResponse {
  results: JsonRestTracking[];
}
