import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { defineBrokerKillSuite } from './broker-kill.suite.js';

// The Jepsen-style upload test against the embedded broker: kill() drops every connection
// and all broker state (sessions, queued messages), restart() listens again on the port.
defineBrokerKillSuite('aedes', () => AedesHarness.start());
