// The MQTT wire contract: the only module backend-sync/ imports. It re-exports the token
// format, code-batch and audit-chain pieces the backend needs, so the backend never
// reaches into device/ directly.

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

// Token format and claims (PASETO v4.public), keys and signing.
export * from '../../device/tokens/index.js';
export * from '../../device/crypto/index.js';

// Code sets.
export { CodeBatch, CodeEntry, KeyringChange, Revocation, PublicKeyText, TokenText, MAX_BATCH_ENTRIES } from '../../device/codes/code-batch.js';
export { codeDigest } from '../../device/codes/code-digest.js';
export { EMPTY_CODE_SET_DIGEST, codeEntryHash, codeSetDigestOf, toggleCodeSetDigest } from '../../device/codes/code-set-digest.js';
export { CodeSetAccumulator } from '../../device/codes/code-set-accumulator.js';
export { findBatchContentProblem } from '../../device/codes/code-batch-content.js';

// Audit hash chain (what the backend verifies on upload).
export { GENESIS_PREV_HASH, auditRecordHash } from '../../device/audit/audit-hash.js';
export { verifyAuditChain, type ChainedRecord } from '../../device/audit/audit-chain.js';
export type { AuditChainCheck } from '../../device/store/runtime-store.js';
export type { AuditLane, AuditRecord, CodeSetState, DeviceHealth, RemoteOpenOutcome } from '../../device/sync-port.js';
