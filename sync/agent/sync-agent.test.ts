import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { defineCodeBatchSuite } from './code-batch.suite.js';
import { defineAuditUploadSuite } from './audit-upload.suite.js';
import { defineCommandSuite } from './command.suite.js';
import { defineHostileInputSuite } from './hostile-input.suite.js';

// The sync suites against the embedded aedes broker (no install needed). The same suites
// run against a real Mosquitto in sync-agent.mosquitto.test.ts.
const startAedes = () => AedesHarness.start();

defineCodeBatchSuite('aedes', startAedes);
defineCommandSuite('aedes', startAedes);
defineAuditUploadSuite('aedes', startAedes);
defineHostileInputSuite('aedes', startAedes);
