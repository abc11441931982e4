// The one seam through which backend-sync reaches the wire contract. The rule: the backend
// shares only sync/contract/ with the device (which re-exports the token format, code
// batch and audit-chain pieces); nothing in backend-sync imports device/ directly.
export * from '@locker/contract/index.js';
