// Child process of open-database.test.ts: opens the store at argv[2] as the unprivileged
// uid/gid argv[3] and prints "opened" or the DeviceError code. Root reads files whatever
// their permissions, so the test needs another user. The child starts as root and drops
// privileges itself, after every module (tsx, better-sqlite3's addon) is loaded: spawned as
// uid 65534 directly it could not even resolve tsx from a clone in a 0700 folder.
import Database from 'better-sqlite3';
import { silentLogger } from '../logger.js';
import { isDeviceError } from '../errors.js';
import { openDeviceStore } from './device-store.js';

const path = process.argv[2] ?? '';
const id = Number(process.argv[3] ?? '65534');
// better-sqlite3 loads its native addon on the first Database, not at import.
new Database(':memory:').close();
if (process.getuid?.() === 0) {
  process.setgroups?.([]);
  process.setgid?.(id);
  process.setuid?.(id);
}
try {
  openDeviceStore({ path, lockerId: 'probe-locker', logger: silentLogger(), now: () => 0 }).close();
  process.stdout.write(`opened as uid ${String(process.getuid?.())}\n`);
} catch (err) {
  process.stdout.write(`${isDeviceError(err) ? err.code : 'not-a-device-error'}\n`);
}
