import { describe, expect, it } from 'vitest';
import { PresenceMessage } from '@locker/contract/presence-messages.js';
import { DeviceHealthWire, MAX_REJECTION_REASONS } from '@locker/contract/shared-schemas.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { Keyring } from '@locker/contract/tokens/keyring.js';
import type { DeviceSyncPort } from './device-sync-port.js';
import { birthMessage, reportedHealth } from './presence.js';

// The health report must always encode: the agent's rejection counts are capped to what
// the wire allows, however many odd reasons a flood of hostile messages produced.

const port = {
  health: () => ({ compartments: [], lockout: { active: false, failures: 0 }, liveCodes: 0, auditBacklog: 0, clockFloor: 0 }),
} as Pick<DeviceSyncPort, 'health'> as DeviceSyncPort;

describe('reportedHealth', () => {
  it('keeps a report valid with more reasons than the wire allows, keeping the most frequent and dropping over-long ones', () => {
    const counts: Record<string, number> = { ['x'.repeat(65)]: 1_000 };
    for (let i = 0; i < MAX_REJECTION_REASONS + 10; i++) counts[`reason-${String(i)}`] = i + 1;
    const health = reportedHealth(port, { counts: () => counts });
    expect(DeviceHealthWire.safeParse(health).success).toBe(true);
    const reasons = Object.keys(health.rejectedMessages ?? {});
    expect(reasons).toHaveLength(MAX_REJECTION_REASONS);
    expect(reasons).toContain(`reason-${String(MAX_REJECTION_REASONS + 9)}`);
    expect(reasons).not.toContain('reason-0');
  });
});

describe('birthMessage', () => {
  const birthPort = {
    dbEpoch: 'e0'.repeat(16),
    codeSetState: () => ({ version: 0, digest: '00'.repeat(32) }),
    auditHighWatermark: () => 0,
    auditAckedWatermark: () => 0,
  } as Pick<DeviceSyncPort, 'dbEpoch' | 'codeSetState' | 'auditHighWatermark' | 'auditAckedWatermark'> as DeviceSyncPort;

  it('announces the kids the keyring trusts now, leaving out revoked and retired ones', () => {
    const now = 1_800_000_000_000;
    const a = makeTestKeys(() => now, 'k-active').rows[0]!;
    const retired = { ...makeTestKeys(() => now, 'k-retired').rows[0]!, notAfter: now - 1 };
    const later = { ...makeTestKeys(() => now, 'k-retiring').rows[0]!, notAfter: now + 1 };
    const keys = Keyring.fromRows(makeTestKeys().ed, [a, retired, later, { kid: 'k-revoked', publicKey: '', revoked: true }]);
    const m = birthMessage(birthPort, keys, 'boot-0001', '1.0.0', now);
    expect(PresenceMessage.parse(m)).toMatchObject({ status: 'online', trustedKids: ['k-active', 'k-retiring'] });
  });

  it('names the newest kids when the keyring trusts more than the wire allows', () => {
    const kids = Array.from({ length: 20 }, (_, i) => `k-2026${String(i + 10)}`);
    const m = birthMessage(birthPort, { lookup: () => ({ status: 'unknown' }), trustedKids: () => kids }, 'boot-0001', '1.0.0', 0);
    expect(PresenceMessage.parse(m)).toMatchObject({ trustedKids: kids.slice(4) });
  });

  it('leaves the field out when the keys cannot be listed, as an older locker does', () => {
    const m = birthMessage(birthPort, { lookup: () => ({ status: 'unknown' }) }, 'boot-0001', '1.0.0', 0);
    expect(PresenceMessage.parse(m)).not.toHaveProperty('trustedKids');
  });
});
