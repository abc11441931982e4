import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { describeDatabaseReset } from './database-reset.suite.js';

describeDatabaseReset('embedded aedes', () => AedesHarness.start());
