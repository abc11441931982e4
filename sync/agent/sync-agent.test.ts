import { AedesHarness } from '../testing/aedes-harness.js';
import { defineCodeBatchSuite } from './code-batch.suite.js';

// The sync suites against the embedded aedes broker (no install needed). The same suites
// run against a real Mosquitto in sync-agent.mosquitto.test.ts.
const startAedes = () => AedesHarness.start();

defineCodeBatchSuite('aedes', startAedes);
