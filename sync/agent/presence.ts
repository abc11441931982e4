import type { DeviceSyncPort } from './device-sync-port.js';
import { newEnvelope } from '@locker/contract/envelope.js';
import type { HealthMessage, PresenceMessage } from '@locker/contract/presence-messages.js';

// Presence and health payloads, built from the device's durable state at the moment they
// are sent (a birth message after a reconnect tells the backend what to re-send).

export function birthMessage(port: DeviceSyncPort, bootId: string, firmwareVersion: string, now: number): PresenceMessage {
  return {
    ...newEnvelope('presence', now),
    status: 'online',
    bootId,
    firmwareVersion,
    dbEpoch: port.dbEpoch,
    codeSet: port.codeSetState(),
    audit: { highSeq: port.auditHighWatermark(), ackedSeq: port.auditAckedWatermark() },
  };
}

export function offlineMessage(bootId: string, cause: 'will' | 'shutdown', now: number): PresenceMessage {
  return { ...newEnvelope('presence', now), status: 'offline', bootId, cause };
}

export function healthMessage(port: DeviceSyncPort, bootId: string, now: number): HealthMessage {
  return { ...newEnvelope('health', now), bootId, health: port.health() };
}
