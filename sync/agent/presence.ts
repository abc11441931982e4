import type { DeviceSyncPort } from './device-sync-port.js';
import { newEnvelope } from '@locker/contract/envelope.js';
import { MAX_ANNOUNCED_KIDS, type HealthMessage, type PresenceMessage } from '@locker/contract/presence-messages.js';
import type { KeyResolver } from '@locker/contract/tokens/keyring.js';
import { MAX_REASON_LENGTH, MAX_REJECTION_REASONS, type DeviceHealthWire } from '@locker/contract/shared-schemas.js';
import type { RejectionReporter } from './rejection-reporter.js';

// Presence and health payloads, built from the device's durable state at the moment they
// are sent (a birth message after a reconnect tells the backend what to re-send).

/**
 * `keys` is the keyring the agent verifies seals with: its trusted kids tell the backend
 * which key to seal with, which matters after the database was replaced (a fresh file
 * trusts only the config's keys, not one rotated in since provisioning).
 */
export function birthMessage(port: DeviceSyncPort, keys: KeyResolver, bootId: string, firmwareVersion: string, now: number): PresenceMessage {
  const kids = announcedKids(keys, now);
  return {
    ...newEnvelope('presence', now),
    status: 'online',
    bootId,
    firmwareVersion,
    dbEpoch: port.dbEpoch,
    codeSet: port.codeSetState(),
    audit: { highSeq: port.auditHighWatermark(), ackedSeq: port.auditAckedWatermark() },
    ...(kids === undefined ? {} : { trustedKids: kids }),
  };
}

/**
 * The kids a birth message names (undefined when the keyring cannot list them). Beyond the
 * wire's limit the last ones by name: kids carry their creation date, and the backend
 * prefers the newest key anyway.
 */
export function announcedKids(keys: KeyResolver, now: number): string[] | undefined {
  return keys.trustedKids?.(now).slice(-MAX_ANNOUNCED_KIDS);
}

export function offlineMessage(bootId: string, cause: 'will' | 'shutdown', now: number): PresenceMessage {
  return { ...newEnvelope('presence', now), status: 'offline', bootId, cause };
}

/**
 * The device's health plus the agent's own figure: the inbound messages it rejected since
 * boot, by reason (capped to what the wire allows, so a report never fails to encode).
 */
export function reportedHealth(port: DeviceSyncPort, rejections: Pick<RejectionReporter, 'counts'>): DeviceHealthWire {
  const byReason = Object.entries(rejections.counts())
    .filter(([reason]) => reason.length > 0 && reason.length <= MAX_REASON_LENGTH)
    .sort(([, a], [, b]) => b - a)
    .slice(0, MAX_REJECTION_REASONS);
  return { ...port.health(), rejectedMessages: Object.fromEntries(byReason) };
}

export function healthMessage(port: DeviceSyncPort, rejections: Pick<RejectionReporter, 'counts'>, bootId: string, now: number): HealthMessage {
  return { ...newEnvelope('health', now), bootId, health: reportedHealth(port, rejections) };
}
