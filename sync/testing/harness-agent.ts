import type { Harness } from '@locker/device/e2e/harness.js';
import { silentLogger } from '@locker/device/logger.js';
import { keyringSource } from '@locker/sync-agent/keyring-source.js';
import { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import { agentClock } from './agent-clock.js';
import { fastAgentConfig } from './test-locker.js';

/**
 * The real sync agent on a device e2e harness (real runtime, simulated hardware), talking
 * MQTT 3.1.1 to `brokerUrl`, with the runtime's device time as its now(). Started.
 */
export function startHarnessAgent(h: Harness, brokerUrl: string): SyncAgent {
  const agent = new SyncAgent({
    port: h.runtime.syncPort(),
    mqtt: { url: brokerUrl },
    ed: h.ed,
    keys: keyringSource(h.ed, () => h.store.keyringRows()),
    clock: agentClock(() => h.runtime.trustedNow()),
    logger: silentLogger(),
    config: { ...fastAgentConfig, protocolVersion: 4 },
  });
  agent.start();
  return agent;
}
