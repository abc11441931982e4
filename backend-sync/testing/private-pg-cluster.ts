import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

// A PostgreSQL cluster of a test's own, for the tests that stop the server under a running
// backend: the shared test server (pg-test-db.ts) is other files' too, so it is never
// stopped. initdb and pg_ctl come from /usr/lib/postgresql/<version>/bin; the server refuses
// to run as root, so as root every command runs as the `postgres` user over a data
// directory it owns. fsync is off (fast; the page cache survives a server crash, only a
// machine crash would lose it), but synchronous_commit stays on: with it off, an immediate
// stop loses commits the server already acknowledged, and the suite would blame the client.

const run = promisify(execFile);
const PG_ROOT = '/usr/lib/postgresql';
const OS_USER = 'postgres';

export type ClusterProbe = { available: true; bin: string } | { available: false; reason: string };

/** The newest installed server's bin directory, or why there is none. */
export function probeClusterBinaries(): ClusterProbe {
  const versions = existsSync(PG_ROOT) ? readdirSync(PG_ROOT).filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) return { available: false, reason: `no initdb under ${PG_ROOT}/*/bin (install the postgresql server package)` };
  return { available: true, bin: join(PG_ROOT, newest, 'bin') };
}

export interface PrivatePgCluster {
  /** Connection URL of the cluster's `postgres` database (trust auth). */
  readonly url: string;
  readonly port: number;
  /** Stops the server; 'immediate' is a crash as clients see it (no goodbye on their sockets). */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /**
   * Stops (SIGSTOP) or resumes (SIGCONT) the postmaster: the kernel still completes TCP
   * connects, but no new session ever answers, as behind a partition or on a frozen host.
   * Sessions already open keep working (their backends are other processes).
   */
  freeze(): void;
  thaw(): void;
  /** Ends every client session (pg_terminate_backend), as a failover does to the old primary's. */
  terminateSessions(): Promise<void>;
  /** Stops it (if running) and removes every file. */
  destroy(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Creates and starts a cluster in a fresh temp dir on a free port. */
export async function startPrivateCluster(bin: string): Promise<PrivatePgCluster> {
  const asRoot = process.getuid?.() === 0;
  const cmd = async (tool: string, args: string[]): Promise<void> => {
    const exe = join(bin, tool);
    await (asRoot ? run('runuser', ['-u', OS_USER, '--', exe, ...args]) : run(exe, args));
  };
  const dir = mkdtempSync(join(tmpdir(), 'pg-cluster-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'run');
  mkdirSync(sockets);
  if (asRoot) {
    const { stdout } = await run('id', ['-u', OS_USER]);
    const { stdout: g } = await run('id', ['-g', OS_USER]);
    for (const p of [dir, sockets]) chownSync(p, Number(stdout.trim()), Number(g.trim()));
  }
  await cmd('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const port = await freePort();
  const opts = ['-p', String(port), '-k', sockets, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=40', '-c', 'shared_buffers=16MB'].join(' ');
  let running = false;
  const start = async (): Promise<void> => {
    await cmd('pg_ctl', ['start', '-D', data, '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', opts]);
    running = true;
  };
  const stop = async (mode: 'immediate' | 'fast' = 'immediate'): Promise<void> => {
    await cmd('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '60']);
    running = false;
  };
  const postmasterPid = (): number => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const url = `postgres://postgres@127.0.0.1:${String(port)}/postgres`;
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    start,
    stop,
    freeze: () => process.kill(postmasterPid(), 'SIGSTOP'),
    thaw: () => process.kill(postmasterPid(), 'SIGCONT'),
    terminateSessions: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`);
      } finally {
        await c.end();
      }
    },
    destroy: async () => {
      if (running) process.kill(postmasterPid(), 'SIGCONT');
      if (running) await stop('immediate').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
