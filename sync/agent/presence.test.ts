import { describe, expect, it } from 'vitest';
import { DeviceHealthWire, MAX_REJECTION_REASONS } from '@locker/contract/shared-schemas.js';
import type { DeviceSyncPort } from './device-sync-port.js';
import { reportedHealth } from './presence.js';

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
