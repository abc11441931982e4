// The wire contract shared by the device and the backend: MQTT topics and payloads, the
// token format (PASETO v4.public), Ed25519 adapters, code sets and digests, the audit
// chain. It imports neither side; both import it (the linter checks the direction).

export * from './envelope.js';
export * from './topics.js';
export * from './shared-schemas.js';
export * from './code-messages.js';
export * from './audit-messages.js';
export * from './audit-events/index.js';
export * from './command-messages.js';
export * from './presence-messages.js';
export * from './catalog.js';
export * from './decode-message.js';
export * from './content-hash.js';
export * from './backend-seal.js';
export * from './backend-signer.js';
export * from './qos.js';
// Log aggregation for rejected outside input (device runtime, sync agent, backend bridge).
export { LogThrottle, OVERFLOW_KEY, type ThrottleSummary, type ThrottleVerdict } from './log-throttle.js';

// Token format and claims (PASETO v4.public), keys and signing.
export * from './tokens/index.js';
export * from './crypto/index.js';

// Code sets.
export { CodeBatch, CodeEntry, KeyringChange, Revocation, PublicKeyText, TokenText, MAX_BATCH_ENTRIES } from './codes/code-batch.js';
export { codeDigest } from './codes/code-digest.js';
export { EMPTY_CODE_SET_DIGEST, codeEntryHash, codeSetDigestOf, toggleCodeSetDigest } from './codes/code-set-digest.js';
export { CodeSetAccumulator } from './codes/code-set-accumulator.js';
export { findBatchContentProblem } from './codes/code-batch-content.js';

// Audit hash chain (what the backend verifies on upload).
export { GENESIS_PREV_HASH, auditRecordHash } from './audit/audit-hash.js';
export { verifyAuditChain, type AuditChainCheck, type ChainedRecord } from './audit/audit-chain.js';
export type { AuditLane, AuditRecord } from './audit/audit-record.js';
export type { CodeSetState } from './codes/code-set-state.js';
export * from './contract-error.js';
