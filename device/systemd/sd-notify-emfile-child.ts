// Child process of sd-notify.test.ts: a process out of file descriptors (EMFILE), as a
// locker leaking them would be. A watchdog ping then cannot start the socat relay; it must
// not throw (the watchdog tick would take the locker down), and once descriptors are free
// again the next ping must reach NOTIFY_SOCKET.
import { closeSync, openSync } from 'node:fs';
import { createLogger } from '../logger.js';
import { createNotifier } from './sd-notify.js';

const notifier = createNotifier({ env: process.env, logger: createLogger({ name: 'emfile-child' }) });
const held: number[] = [];
try {
  for (;;) held.push(openSync('/dev/null', 'r'));
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== 'EMFILE') throw err;
}
notifier.notify('STATUS=starved');
// Past the spawn's asynchronous 'error': an unhandled one would end the process here.
setTimeout(() => {
  for (const fd of held) closeSync(fd);
  notifier.notify('WATCHDOG=1');
  setTimeout(() => void notifier.close(), 300);
}, 200);
