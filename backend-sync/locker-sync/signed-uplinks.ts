import type { KeyStore } from '../keys/key-store.js';
import type { Logger } from '../shared/logger.js';

/** The part of the MQTT transport that can hold subscriptions back (mqtt-transport.ts). */
export interface PausableSubscriptions {
  pause(filters: readonly string[]): Promise<void>;
  resume(filters: readonly string[]): Promise<void>;
}

/**
 * While this instance cannot sign, the rest of its group takes the uplinks whose handling
 * signs a reply (signedUplinkSubscriptionsFor): stored here they would never be acked. A
 * request the broker refused, or that was lost with the connection, is made again after
 * `retryMs` while the availability it was for still holds (a reconnect also applies it).
 */
export function pauseSignedUplinksWhileUnavailable(
  keys: Pick<KeyStore, 'onSigningAvailability' | 'signingAvailable'>,
  transport: PausableSubscriptions,
  filters: readonly string[],
  logger: Logger,
  retryMs = 5_000,
): void {
  if (filters.length === 0) return;
  const log = logger.child({ component: 'signed-uplinks' });
  const apply = (available: boolean, attempt: number): void => {
    (available ? transport.resume(filters) : transport.pause(filters)).catch((err: unknown) => {
      log.error({ available, attempt, err: err instanceof Error ? err.message : String(err) }, 'mqtt.signed_uplinks_change_failed');
      const retry = setTimeout(() => {
        if (keys.signingAvailable === available) apply(available, attempt + 1);
      }, retryMs);
      retry.unref();
    });
  };
  keys.onSigningAvailability((available) => {
    log.warn({ available, subscriptions: filters }, available ? 'mqtt.signed_uplinks_resumed' : 'mqtt.signed_uplinks_paused');
    apply(available, 1);
  });
}
