// The Node flags the backend process runs with: `npm run backend` (package.json, checked by
// node-flags.test.ts), the multi-instance harness and the backend benchmarks pass exactly
// these.
//
// --max-semi-space-size=32: V8's young generation otherwise starts at 1 MiB a half and grows
// slowly, so a server that allocates per request (rows of a search, parsed bodies) runs a
// scavenge every ~100 requests, each catching the requests in flight: measured on the
// nearby search over PostgreSQL (2,000 queries), 16–18 scavenges of 7–10 ms, which were 15
// of the 20 slowest searches (p99 4–6 ms), against 6 scavenges of ~2 ms with 32 MiB (p99
// 1.8–3.0 ms); HTTP holds ~5 % faster. Costs up to 3 × 32 MiB of young generation, used
// only as the process allocates.
export const BACKEND_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
