// Child process of open-database.test.ts: opens the store at argv[2] and prints "opened"
// or the DeviceError code. Lets the test open a file as another (unprivileged) user,
// since root reads files whatever their permissions.
import { silentLogger } from '../logger.js';
import { isDeviceError } from '../errors.js';
import { openDeviceStore } from './device-store.js';

const path = process.argv[2] ?? '';
try {
  openDeviceStore({ path, lockerId: 'probe-locker', logger: silentLogger(), now: () => 0 }).close();
  process.stdout.write('opened\n');
} catch (err) {
  process.stdout.write(`${isDeviceError(err) ? err.code : 'not-a-device-error'}\n`);
}
