// The production path of a code batch for keypad-during-batch.bench.ts (KPB_VIA=agent):
// the batch arrives as a signed codes/batch message and goes through the sync agent's
// handler — decode and schema, manifest seal, content hash, the sliced apply, the ack —
// instead of straight into the store. Only the MQTT transport is left out.
// The message is built the way a network delivers it, a piece per loop turn, so building
// it does not count as keypad latency: the upserts serialised and hashed 500 at a time.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { signSeal } from '@locker/contract/backend-seal.js';
import { CodeBatchManifest } from '@locker/contract/code-messages.js';
import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import { CodeBatchContentHasher } from '@locker/contract/content-hash.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import { newEnvelope } from '@locker/contract/envelope.js';
import type { KeyResolver } from '@locker/contract/tokens/keyring.js';
import { topicFor } from '@locker/contract/topics.js';
import { BatchPayloadParser } from '@locker/sync-agent/batch-payload-parser.js';
import { CodeBatchHandler } from '@locker/sync-agent/code-batch-handler.js';
import type { BatchApplyResult, DeviceSyncPort } from '@locker/sync-agent/device-sync-port.js';
import { RejectionReporter } from '@locker/sync-agent/rejection-reporter.js';

export interface AgentPathDeps {
  port: DeviceSyncPort;
  ed: Ed25519;
  /** The keys the locker trusts (the runtime's keyring). */
  keys: () => KeyResolver;
  /** Signs the manifests: a key `keys` trusts. */
  signing: { kid: string; seed: Uint8Array };
  now: () => number;
  logger: Logger;
}

const PIECE = 500;

export function applyViaAgent(deps: AgentPathDeps): { apply: (batch: CodeBatch) => Promise<BatchApplyResult>; stop: () => void } {
  const key = deps.ed.importPrivateKey(deps.signing.seed);
  const lockerId = deps.port.lockerId;
  // As the agent runs it: large payloads parsed on a worker (stopped by stop()).
  const parser = new BatchPayloadParser(deps.logger);
  parser.start();
  const handler = new CodeBatchHandler(
    {
      port: deps.port, lockerId, ed: deps.ed, keys: deps.keys, now: deps.now, logger: deps.logger,
      rejections: new RejectionReporter(deps.port, deps.logger, 100),
      isConnected: () => true, publish: () => undefined, publishStored: () => undefined,
    },
    60_000,
    () => performance.now(),
    { parser },
  );
  const topic = topicFor(lockerId, 'codes/batch');
  const apply = async (batch: CodeBatch): Promise<BatchApplyResult> => {
    const hasher = new CodeBatchContentHasher(batch, batch.upserts.length);
    const pieces: Buffer[] = [];
    for (let i = 0; i < batch.upserts.length; i += PIECE) {
      const piece = batch.upserts.slice(i, i + PIECE);
      hasher.addUpserts(piece);
      pieces.push(Buffer.from((i === 0 ? '' : ',') + JSON.stringify(piece).slice(1, -1), 'utf8'));
      await nextTurn();
    }
    const manifest = signSeal(deps.ed, key, deps.signing.kid, lockerId, CodeBatchManifest.parse({
      typ: 'code-batch-manifest', lockerId, kind: batch.kind, fromVersion: batch.fromVersion, toVersion: batch.toVersion,
      upserts: batch.upserts.length, revocations: batch.revocations.length, keyring: batch.keyring.length,
      contentHash: hasher.finish(batch), iat: Math.floor(deps.now()),
    }));
    const shell = JSON.stringify({ ...newEnvelope('code-batch', deps.now()), manifest, batch: { ...batch, upserts: [] } });
    const slot = shell.indexOf('"upserts":[]') + '"upserts":['.length;
    // One copy of the bytes, as the MQTT client makes when it hands a message over.
    const payload = Buffer.concat([Buffer.from(shell.slice(0, slot), 'utf8'), ...pieces, Buffer.from(shell.slice(slot), 'utf8')]);
    await nextTurn();
    await handler.handle(topic, payload);
    const state = deps.port.codeSetState();
    return state.version === batch.toVersion ? { outcome: 'applied', state } : { outcome: 'rejected', reason: 'not applied by the agent', state };
  };
  return { apply, stop: () => parser.stop() };
}
