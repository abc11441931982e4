import { describe } from 'vitest';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';
import { defineBrokerKillSuite } from './broker-kill.suite.js';

// The Jepsen-style upload test against a real Mosquitto killed with SIGKILL (persistence
// on, autosave every second, so each kill also loses the broker's recent state).
const skip = !hasMosquitto && !process.env['CI'];
if (skip) console.warn('broker-kill.mosquitto.test.ts skipped: mosquitto binary not found (apt-get install mosquitto)');

describe.skipIf(skip)('against Mosquitto', () => {
  defineBrokerKillSuite('mosquitto', () => MosquittoHarness.start());
});
