import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeBase64UrlStrict, encodeBase64Url } from '../device/crypto/base64url.js';

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
}

export function dataDirPaths(dir: string): DataDirPaths {
  const root = resolve(dir);
  return {
    root,
    database: join(root, 'locker.db'),
    log: join(root, 'simulator.log'),
    codePepper: join(root, 'secrets', 'code-pepper'),
    backendKeys: join(root, 'backend-keys'),
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
 * Reads a 32-byte secret stored as base64url, creating it on first use. Created with 'wx'
 * so two processes starting at once cannot both write (and disagree about) the secret.
 */
export function loadOrCreateSecret(path: string): { secret: Uint8Array; created: boolean } {
  if (!existsSync(path)) {
    try {
      writeFileSync(path, `${encodeBase64Url(randomBytes(32))}\n`, { mode: 0o600, flag: 'wx' });
      return { secret: readSecret(path), created: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  chmodSync(path, 0o600);
  return { secret: readSecret(path), created: false };
}

function readSecret(path: string): Uint8Array {
  const bytes = decodeBase64UrlStrict(readFileSync(path, 'utf8').trim());
  if (bytes?.length !== 32) throw new Error(`secret file ${path} is not 32 bytes of base64url`);
  return bytes;
}
