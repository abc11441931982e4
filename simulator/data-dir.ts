import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// Where one simulated locker keeps everything it persists. A restart with the same data
// dir resumes from it; --fresh wipes it. Secrets are generated here at first run (mode
// 0600) and never committed: the default dirs are gitignored.

export const DEFAULT_DATA_DIR = 'var/sim';

export interface DataDirPaths {
  root: string;
  /** The device's SQLite database (the device's only state). */
  database: string;
  /** Structured pino logs of the whole simulator process. */
  log: string;
  /** Per-locker code pepper: the HMAC key of keypad-code digests, a device config secret. */
  codePepper: string;
  /** The simulated backend's token-signing keys (on a real deployment they never leave the backend). */
  backendKeys: string;
  /** The embedded backend's SQLite database (lockers, orders, code sets, ingested audit). */
  backendDatabase: string;
  /** The keyring of the locker's provisioning bundle, as installed (the locker's first trusted keys). */
  provisionedKeyring: string;
}

export function dataDirPaths(dir: string): DataDirPaths {
  const root = resolve(dir);
  return {
    root,
    database: join(root, 'locker.db'),
    log: join(root, 'simulator.log'),
    codePepper: join(root, 'secrets', 'code-pepper'),
    backendKeys: join(root, 'backend-keys'),
    backendDatabase: join(root, 'backend.db'),
    provisionedKeyring: join(root, 'secrets', 'provisioned-keyring.json'),
  };
}

/** Creates the data dir (and its secrets dir, private) if missing. */
export function ensureDataDir(paths: DataDirPaths): void {
  mkdirSync(paths.root, { recursive: true });
  mkdirSync(join(paths.root, 'secrets'), { recursive: true, mode: 0o700 });
}

/**
 * Deletes the data dir. Refuses the filesystem root and the working directory itself, so
 * a mistyped --data-dir cannot take the checkout with it.
 */
export function wipeDataDir(paths: DataDirPaths): void {
  if (paths.root === resolve('/') || paths.root === resolve('.')) {
    throw new Error(`refusing to wipe ${paths.root}`);
  }
  rmSync(paths.root, { recursive: true, force: true });
}

/**
 * Creates the code pepper file on first use: 32 random bytes as hex, the format the
 * device's readCodePepper reads. 'wx' so two processes starting at once cannot both
 * write (and disagree about) the secret. Returns whether it was created.
 */
export function ensureCodePepper(path: string): boolean {
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    return false;
  }
  try {
    writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * One locker's paths inside a session's data dir: its database and secrets under
 * lockers/<id>/, the backend's files and the log shared at the session's root.
 */
export function lockerPaths(sessionDir: string, lockerId: string): DataDirPaths {
  const session = dataDirPaths(sessionDir);
  const own = dataDirPaths(join(session.root, 'lockers', lockerId));
  return { ...own, log: session.log, backendKeys: session.backendKeys, backendDatabase: session.backendDatabase };
}
