import type { CodeBatch } from './codes/code-batch.js';
import type { Ed25519, PrivateKeyHandle } from './crypto/ed25519.js';
import { AuditAckClaims, type AuditAckMessage } from './audit-messages.js';
import { signSeal } from './backend-seal.js';
import { CodeBatchManifest, type CodeBatchMessage } from './code-messages.js';
import { CommandClaims, type Command, type CommandMessage } from './command-messages.js';
import { codeBatchContentHash } from './content-hash.js';
import { newEnvelope } from './envelope.js';

// Builds the signed backend → locker messages. The backend (backend-sync/) and the test
// backend use this, so what is signed and how is defined once, beside the verifier.
// The key is imported once (an Ed25519 handle); signing uses the backend's clock for iat.

export interface BackendSignerOptions {
  ed: Ed25519;
  kid: string;
  /** 32-byte Ed25519 seed. */
  seed: Uint8Array;
  now: () => number;
}

export class BackendSigner {
  readonly kid: string;
  readonly publicKey: Uint8Array;
  private readonly ed: Ed25519;
  private readonly key: PrivateKeyHandle;
  private readonly now: () => number;

  constructor(options: BackendSignerOptions) {
    this.ed = options.ed;
    this.kid = options.kid;
    this.now = options.now;
    this.key = options.ed.importPrivateKey(options.seed);
    this.publicKey = this.key.publicKey;
  }

  /** The manifest seal for a batch (exposed for tests that tamper with one half). */
  manifestFor(batch: CodeBatch, iat: number = this.now()): string {
    const manifest = CodeBatchManifest.parse({
      typ: 'code-batch-manifest',
      lockerId: batch.lockerId,
      kind: batch.kind,
      fromVersion: batch.fromVersion,
      toVersion: batch.toVersion,
      upserts: batch.upserts.length,
      revocations: batch.revocations.length,
      keyring: batch.keyring.length,
      contentHash: codeBatchContentHash(batch),
      iat: Math.floor(iat),
    });
    return signSeal(this.ed, this.key, this.kid, batch.lockerId, manifest);
  }

  codeBatch(batch: CodeBatch, id?: string): CodeBatchMessage {
    const now = this.now();
    return { ...newEnvelope('code-batch', now, id), manifest: this.manifestFor(batch, now), batch };
  }

  command(lockerId: string, dbEpoch: string, transactionId: string, command: Command, ttlMs: number, id?: string): CommandMessage {
    const iat = Math.floor(this.now());
    const claims = CommandClaims.parse({ typ: 'command', lockerId, dbEpoch, transactionId, iat, exp: iat + ttlMs, command });
    return { ...newEnvelope('command', iat, id), transactionId, seal: signSeal(this.ed, this.key, this.kid, lockerId, claims) };
  }

  auditAck(lockerId: string, dbEpoch: string, contiguousSeq: number, alsoSeqs: readonly number[], id?: string, extra: { conflictAt?: number; contiguousHash?: string; alsoHashes?: readonly string[] } = {}): AuditAckMessage {
    const iat = Math.floor(this.now());
    const claims = AuditAckClaims.parse({ typ: 'audit-ack', lockerId, dbEpoch, contiguousSeq, alsoSeqs: [...alsoSeqs], ...extra, iat });
    return { ...newEnvelope('audit-ack', iat, id), seal: signSeal(this.ed, this.key, this.kid, lockerId, claims) };
  }
}
