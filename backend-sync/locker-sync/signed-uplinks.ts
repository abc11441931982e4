import type { KeyStore } from '../keys/key-store.js';
import type { Logger } from '../shared/logger.js';

/** The part of the MQTT transport that can hold subscriptions back (mqtt-transport.ts). */
export interface PausableSubscriptions {
  pause(filters: readonly string[]): Promise<void>;
  resume(filters: readonly string[]): Promise<void>;
}

/**
 * While this instance cannot sign, the rest of its group takes the uplinks whose handling
 * signs a reply (signedUplinkSubscriptionsFor): stored here they would never be acked.
 */
export function pauseSignedUplinksWhileUnavailable(keys: KeyStore, transport: PausableSubscriptions, filters: readonly string[], logger: Logger): void {
  if (filters.length === 0) return;
  const log = logger.child({ component: 'signed-uplinks' });
  keys.onSigningAvailability((available) => {
    log.warn({ available, subscriptions: filters }, available ? 'mqtt.signed_uplinks_resumed' : 'mqtt.signed_uplinks_paused');
    // The transport records the wanted state before it asks the broker, and every reconnect
    // applies it, so a request lost with the connection is made again on the next one.
    (available ? transport.resume(filters) : transport.pause(filters)).catch((err: unknown) => {
      log.error({ available, err: err instanceof Error ? err.message : String(err) }, 'mqtt.signed_uplinks_change_failed');
    });
  });
}
