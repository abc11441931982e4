import { describe, it } from 'vitest';
import { MosquittoHarness, hasMosquitto } from '@locker/sync-testing/mosquitto-harness.js';
import { describeDatabaseReset } from './database-reset.suite.js';

// Same reset scenario against a private Mosquitto (persistent sessions, retained presence).
if (hasMosquitto || process.env['CI'] !== undefined) {
  describeDatabaseReset('mosquitto', () => MosquittoHarness.start());
} else {
  describe('device database reset (mosquitto)', () => {
    it.skip('needs the mosquitto binary (apt-get install mosquitto)', () => undefined);
  });
}
