import { resolve } from 'node:path';
import { readDeviceConfigFile } from '../config.js';
import { describeError } from '../errors.js';
import { backupDatabase } from './backup-database.js';

// `node <release>/backup.js [--config FILE] --out FILE`: the verified online copy of the
// database the device config names (backup-database.ts). `--print-db-path` prints that
// path only, so update.sh (POSIX sh, no JSON parser) learns where the data lives from the
// same config loader the service uses. One line on stdout on success, one line on stderr
// naming the code otherwise.

const USAGE = 'usage: backup.js [--config /etc/locker/device.json] (--out FILE | --print-db-path)';

export interface BackupCommandIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Runs once the config is read, before the database is touched (main.ts drops root here). */
  beforeCopy?: (dbPath: string) => void;
}

type Parsed = { config: string; out?: string; printDbPath: boolean } | { error: string } | { help: true };

function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): Parsed {
  let config = env['LOCKER_CONFIG'] ?? '/etc/locker/device.json';
  let out: string | undefined;
  let printDbPath = false;
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if ((arg === '--config' || arg === '--out') && (value === undefined || value === '')) return { error: `${arg} needs a file` };
    if (arg === '--config' && value !== undefined) config = value;
    else if (arg === '--out' && value !== undefined) out = value;
    else if (arg === '--print-db-path') {
      printDbPath = true;
      continue;
    } else return { error: `unknown argument ${String(arg)}` };
    i++;
  }
  if (!printDbPath && out === undefined) return { error: '--out is required' };
  return { config, printDbPath, ...(out === undefined ? {} : { out }) };
}

/** The exit code: 0 done, 1 refused or failed, 2 usage. */
export async function runBackupCommand(argv: readonly string[], io: BackupCommandIo): Promise<number> {
  const args = parseArgs(argv, io.env);
  if ('help' in args) {
    io.stdout(USAGE);
    return 0;
  }
  if ('error' in args) {
    io.stderr(`backup: ${args.error}\n${USAGE}`);
    return 2;
  }
  try {
    const { dbPath } = readDeviceConfigFile(args.config);
    if (args.printDbPath) {
      io.stdout(resolve(dbPath));
      return 0;
    }
    const out = resolve(args.out ?? '');
    if (out === resolve(dbPath)) {
      io.stderr(`backup: --out is the device database itself (${out})`);
      return 2;
    }
    io.beforeCopy?.(dbPath);
    const result = await backupDatabase({ dbPath, out });
    io.stdout(`backup: wrote ${result.path} (${String(result.bytes)} bytes, schema version ${String(result.schemaVersion)}, ${result.check} ok) from ${dbPath}`);
    return 0;
  } catch (err) {
    io.stderr(`backup failed: ${describeError(err)}`);
    return 1;
  }
}
