import { describe, it } from 'vitest';
import { MosquittoHarness, hasMosquitto } from '@locker/sync-testing/mosquitto-harness.js';
import { describeHappyPath } from './happy-path.suite.js';

// Same scenarios against a private Mosquitto on a free port. Skipped (with a visible
// placeholder test) where the binary is missing, unless CI is set: then it must run.
if (hasMosquitto || process.env['CI'] !== undefined) {
  describeHappyPath('mosquitto', () => MosquittoHarness.start());
} else {
  describe('locker to customer over MQTT (mosquitto)', () => {
    it.skip('needs the mosquitto binary (apt-get install mosquitto)', () => undefined);
  });
}
