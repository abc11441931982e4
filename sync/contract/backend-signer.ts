import type { CodeBatch } from './codes/code-batch.js';
import type { Ed25519, PrivateKeyHandle } from './crypto/ed25519.js';
import { AuditAckClaims, MAX_ALSO_SEQS, type AuditAckMessage } from './audit-messages.js';
import { sealFits, signSeal } from './backend-seal.js';
import { ContractError } from './contract-error.js';
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

/** The optional claims of an audit ack (AuditAckClaims). */
export interface AuditAckExtra {
  conflictAt?: number;
  contiguousHash?: string;
  alsoHashes?: readonly string[];
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

  /** One ack; throws (TOKEN_CLAIMS) when its claims do not fit a seal. The backend uses auditAcks. */
  auditAck(lockerId: string, dbEpoch: string, contiguousSeq: number, alsoSeqs: readonly number[], id?: string, extra: AuditAckExtra = {}): AuditAckMessage {
    const iat = Math.floor(this.now());
    const claims = AuditAckClaims.parse({ typ: 'audit-ack', lockerId, dbEpoch, contiguousSeq, alsoSeqs: [...alsoSeqs], ...extra, iat });
    return { ...newEnvelope('audit-ack', iat, id), seal: signSeal(this.ed, this.key, this.kid, lockerId, claims) };
  }

  /**
   * The acks answering one upload, each of which fits its seal: `alsoSeqs` (with their
   * `alsoHashes`, paired) are split, lowest seqs first, over as many acks as their measured
   * seal lengths need — about a dozen entries per ack — all with the same `contiguousSeq`
   * and `contiguousHash`. Each is a complete ack on its own, so a locker of any release
   * applies each as it comes; `conflictAt` rides on the last, since the locker takes a new
   * epoch on it and would refuse the rest as another epoch's. Always at least one ack.
   */
  auditAcks(lockerId: string, dbEpoch: string, contiguousSeq: number, alsoSeqs: readonly number[], extra: AuditAckExtra = {}): AuditAckMessage[] {
    const iat = Math.floor(this.now());
    const { conflictAt, alsoHashes, contiguousHash } = extra;
    if (alsoHashes !== undefined && alsoHashes.length !== alsoSeqs.length) throw new ContractError('TOKEN_CLAIMS', 'alsoHashes must pair with alsoSeqs', { seqs: alsoSeqs.length, hashes: alsoHashes.length });
    const claimsFor = (from: number, to: number, last: boolean): Record<string, unknown> => ({
      typ: 'audit-ack',
      lockerId,
      dbEpoch,
      contiguousSeq,
      alsoSeqs: alsoSeqs.slice(from, to),
      ...(last && conflictAt !== undefined ? { conflictAt } : {}),
      ...(contiguousHash === undefined ? {} : { contiguousHash }),
      ...(alsoHashes === undefined || to === from ? {} : { alsoHashes: alsoHashes.slice(from, to) }),
      iat,
    });
    const out: AuditAckMessage[] = [];
    let from = 0;
    do {
      // Measured with conflictAt whether or not this ack ends up last: a chunk that fits
      // with it fits without. One entry always fits (about 800 characters at the schemas' longest).
      let to = Math.min(from + 1, alsoSeqs.length);
      while (to < alsoSeqs.length && to - from < MAX_ALSO_SEQS && sealFits(this.kid, claimsFor(from, to + 1, true))) to++;
      const claims = AuditAckClaims.parse(claimsFor(from, to, to === alsoSeqs.length));
      out.push({ ...newEnvelope('audit-ack', iat), seal: signSeal(this.ed, this.key, this.kid, lockerId, claims) });
      from = to;
    } while (from < alsoSeqs.length);
    return out;
  }
}
