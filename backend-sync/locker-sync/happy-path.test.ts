import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { describeHappyPath } from './happy-path.suite.js';

describeHappyPath('embedded aedes', () => AedesHarness.start());
