import { realpathSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { runBackupCommand } from './backup-command.js';

// The backup.js of a release (docs/hardware.md "Updating and rolling back"). update.sh runs
// it as root; opening the live database read-only still creates its -wal and -shm when the
// service is stopped, and root-owned ones would keep the service (user locker) from opening
// its own database. So, as root, it becomes the owner of the database file before touching
// it: every file it creates (the copy included) belongs to the service user.

function becomeOwnerOf(dbPath: string): void {
  if (process.getuid?.() !== 0) return;
  let owner: { uid: number; gid: number };
  try {
    owner = statSync(dbPath);
  } catch {
    return; // missing: the backup refuses it with its own message
  }
  if (owner.uid === 0) return;
  process.setgroups?.([]);
  process.setgid?.(owner.gid);
  process.setuid?.(owner.uid);
}

// realpath: node names the module by its real path (releases/<version>/backup.js) while argv
// keeps the `current` link.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.umask(0o077);
  runBackupCommand(process.argv.slice(2), {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    beforeCopy: becomeOwnerOf,
  }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`backup failed: INTERNAL: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
