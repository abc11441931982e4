// Child process of exit-on-crash.test.ts: only the crash handler, with a relay driver whose
// allOff never settles (a hung driver) and nothing else keeping the event loop alive, then a
// bug's exception. The bound alone must end the process, with exit code 1.
import { createLogger } from '../logger.js';
import { exitOnCrash } from './exit-on-crash.js';

exitOnCrash({
  logger: createLogger({ name: 'crash-child' }),
  relaysOff: () => new Promise<void>(() => undefined),
  exit: (code) => process.exit(code),
  boundMs: 200,
});
setImmediate(() => {
  throw new Error('test bug: thrown');
});
