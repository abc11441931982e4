import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { Logger } from 'pino';
import type { DeviceSyncPort } from './device-sync-port.js';
import type { KeyResolver } from '@locker/contract/tokens/keyring.js';
import type { MessageOn } from '@locker/contract/catalog.js';
import { encodeMessage } from '@locker/contract/decode-message.js';
import { publishOptionsFor } from '@locker/contract/qos.js';
import { topicFor, type LockerOutboundSuffix } from '@locker/contract/topics.js';
import type { RejectionReporter } from './rejection-reporter.js';
import type { MqttSession } from './mqtt-session.js';

// What the agent's handlers share: the device port, the verified-key source, the clock
// and a publisher. Publishing is fire-and-forget by design (see mqtt-session.ts): a lost
// publish is recovered by the protocol (outbox re-send, backend retry), never by waiting.

export interface SyncContext {
  readonly port: DeviceSyncPort;
  readonly lockerId: string;
  readonly ed: Ed25519;
  readonly keys: () => KeyResolver;
  /** Wall clock, epoch ms (the device's notion of now). */
  readonly now: () => number;
  readonly rejections: RejectionReporter;
  readonly logger: Logger;
  isConnected(): boolean;
  publish<S extends LockerOutboundSuffix>(suffix: S, message: MessageOn<S>): void;
  /** Publishes bytes stored earlier (a command reply re-sent verbatim). */
  publishStored(suffix: LockerOutboundSuffix, json: string): void;
}

export function makeStoredPublisher(session: MqttSession, lockerId: string, logger: Logger): (suffix: LockerOutboundSuffix, json: string) => void {
  return (suffix, json) => {
    session.publish(topicFor(lockerId, suffix), Buffer.from(json, 'utf8'), publishOptionsFor(suffix)).catch((err: unknown) => {
      logger.debug({ suffix, err: err instanceof Error ? err.message : String(err) }, 'publish.failed');
    });
  };
}

export function makePublisher(
  session: MqttSession,
  lockerId: string,
  logger: Logger,
): <S extends LockerOutboundSuffix>(suffix: S, message: MessageOn<S>) => void {
  return (suffix, message) => {
    let payload: Buffer;
    try {
      payload = encodeMessage(suffix, message);
    } catch (err) {
      logger.error({ err, suffix }, 'publish.encode-failed');
      return;
    }
    session.publish(topicFor(lockerId, suffix), payload, publishOptionsFor(suffix)).catch((err: unknown) => {
      logger.debug({ suffix, err: err instanceof Error ? err.message : String(err) }, 'publish.failed');
    });
  };
}
