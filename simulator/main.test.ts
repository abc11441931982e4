import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';

// `npm start` as a newcomer or CI runs it: simulator/main.ts in its own process, through
// tsx, on a fresh data dir.

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sim-main-'));
  dirs.push(dir);
  return dir;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runMain(args: string[], options: { stdin?: string; keepStdinOpen?: boolean; env?: Record<string, string>; onStdout?: (all: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'simulator/main.ts', ...args], {
      cwd: process.cwd(),
      stdio: [options.stdin === undefined && options.keepStdinOpen !== true ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`simulator did not exit in time\n${stdout}\n${stderr}`));
    }, 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// Each case starts the whole simulator (broker, backend, device) as a process, some of them
// three times: on a loaded 2-core machine that takes longer than the default 30 s.
describe('simulator main (npm start)', { timeout: 120_000 }, () => {
  it('runs three lockers and the demo on the first with stdin closed, prints every step and exits 0', async () => {
    const run = await runMain(['--data-dir', dataDir()]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/3 locker\(s\): sim-locker-1 \(Berlin[^)]*\), sim-locker-2 \(Hamburg[^)]*\), sim-locker-3 \(München/);
    for (const id of ['sim-locker-1', 'sim-locker-2', 'sim-locker-3']) expect(run.stdout).toContain(`locker ${id} registered with the backend`);
    expect(run.stdout).toMatch(/backend API: http:\/\/127\.0\.0\.1:\d+\n/);
    expect(run.stdout).toMatch(/API key \(this session; roles merchant, carrier, admin\): lk_\S+/);
    expect(run.stdout).toContain('=== Demo on sim-locker-1');
    for (let step = 1; step <= 9; step++) expect(run.stdout).toContain(`[${String(step)}/9]`);
    expect(run.stdout).toMatch(/audit chain verified: VALID/);
    // The real backend issued the parcel, its batch went over the embedded broker to the
    // real sync agent, the customer got the code from it, and the audit came back verified.
    expect(run.stdout).toMatch(/registered with the backend/);
    expect(run.stdout).toMatch(/applied and acked: version 1/);
    expect(run.stdout).toMatch(/notified the customer/);
    expect(run.stdout).toMatch(/order ord_[\w-]+ is now 'collected'/);
    expect(run.stdout).toMatch(/stored it up to seq \d+ and verified the hash chain/);
    expect(run.stdout).toContain('Demo complete');
    expect(run.stdout).toMatch(/lockers stopped \(demo finished\): relays off, databases closed/);
  });

  it('resumes from the data dir on a second start and wipes it with --fresh', async () => {
    const dir = dataDir();
    expect((await runMain(['--data-dir', dir, '--no-demo'])).stdout).toContain('new locker');
    expect((await runMain(['--data-dir', dir, '--no-demo'])).stdout).toMatch(/resumed from the data dir: code set version 0/);
    expect((await runMain(['--data-dir', dir, '--no-demo', '--fresh'])).stdout).toContain('new locker');
  });

  it('plays the demo again on a data dir left from a run hours ago (the backend last saw the lockers then)', async () => {
    const dir = dataDir();
    expect((await runMain(['--data-dir', dir])).code).toBe(0);
    // What a day between two runs leaves: the backend saw the lockers go offline when the
    // first run stopped, longer ago than it takes new parcels for an offline locker.
    const db = new Database(join(dir, 'backend.db'));
    try {
      expect(db.prepare('UPDATE lockers SET offline_since = ? WHERE offline_since IS NOT NULL').run(Date.now() - 3 * 3_600_000).changes).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    const again = await runMain(['--data-dir', dir]);
    expect(again.stdout).toContain('resumed from the data dir');
    expect(again.stdout).toContain('Demo complete');
    expect(again.code).toBe(0);
  });

  it('reads console commands from a pipe with --interactive and survives bad lines', async () => {
    const run = await runMain(['--data-dir', dataDir(), '--no-demo', '--interactive', '--offline'], {
      stdin: 'status\nfrobnicate\nopen Z99\nfault A03 door-jammed\nstatus\nquit\n',
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("error: unknown command 'frobnicate'");
    expect(run.stdout).toContain('error: no compartment Z99');
    expect(run.stdout).toMatch(/A03 +S +free +closed .*door-jammed/);
    expect(run.stdout).toContain('sync: offline locker');
  });

  it('plays a whole parcel from the console: backend parcel, courier deposit, notice, pickup by QR', async () => {
    const said = new Set<string>();
    const once = (key: string, act: () => void): void => {
      if (said.has(key)) return;
      said.add(key);
      act();
    };
    let retries = 0;
    const run = await runMain(['--data-dir', dataDir(), '--no-demo', '--interactive'], {
      keepStdinOpen: true,
      onStdout: (all, child) => {
        const write = (text: string): void => {
          if (child.stdin?.writable === true) child.stdin.write(text);
        };
        if (all.includes('technician console')) once('parcel', () => write('parcel M\n'));
        const assigned = /parcel (\S+) is assigned to (A\d\d)/.exec(all);
        if (assigned !== null) once('deposit', () => write(`courier\nwait 200\nscan ${assigned[1]!}\nwait 300\nclose ${assigned[2]!}\n`));
        if (/received code (\d{8})/.test(all)) once('pickup', () => write('qr\n'));
        // The notice can arrive while the deposit's 500 ms relay pulse still runs: the locker
        // then answers "wait a moment", as it would a customer, who scans again.
        const busy = all.split('Please wait a moment and try again').length - 1;
        if (busy > retries && retries < 5) {
          retries = busy;
          write('wait 600\nqr\n');
        }
        if (/Door open: please take your parcel/.test(all)) once('quit', () => write('status\nquit\n'));
      },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Deposit in A0\d confirmed/);
    expect(run.stdout).toMatch(/Door open: please take your parcel/);
    expect(run.stdout).toMatch(/the customer's QR code for \S+ scanned/);
    // The token itself is never printed, only the code (on purpose, marked as such).
    expect(run.stdout).not.toContain('v4.public.');
  });

  it('stops gracefully on SIGTERM: relays off, database closed, exit 0', async () => {
    let signalled = false;
    const run = await runMain(['--data-dir', dataDir(), '--no-demo', '--interactive'], {
      keepStdinOpen: true,
      onStdout: (all, child) => {
        if (!signalled && all.includes('technician console')) {
          signalled = true;
          child.kill('SIGTERM');
        }
      },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('lockers stopped (SIGTERM): relays off, databases closed');
  });

  it('fails closed on a corrupt database: exit 1 with DB_CORRUPT, never an empty locker', async () => {
    const dir = dataDir();
    expect((await runMain(['--data-dir', dir, '--no-demo', '--offline'])).code).toBe(0);
    const db = join(dir, 'lockers', 'sim-locker-1', 'locker.db');
    const bytes = readFileSync(db);
    bytes.write('garbage garbage garbage', 100);
    writeFileSync(db, bytes);
    const run = await runMain(['--data-dir', dir, '--no-demo', '--offline']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DB_CORRUPT/);
    expect(run.stdout).not.toContain('new locker');
  });

  it('prints a session API key the running backend accepts, and addresses lockers from the console', async () => {
    let asked = false;
    let status: number | undefined;
    let lockers: string[] = [];
    const run = await runMain(['--data-dir', dataDir(), '--no-demo', '--interactive'], {
      keepStdinOpen: true,
      onStdout: (all, child) => {
        const api = /backend API: (\S+)\n/.exec(all);
        const key = /API key \(this session; roles merchant, carrier, admin\): (\S+)\n/.exec(all);
        if (asked || api === null || key === null || !all.includes('technician console')) return;
        asked = true;
        void fetch(`${api[1]!}/lockers`, { headers: { authorization: `Bearer ${key[1]!}` } }).then(async (res) => {
          status = res.status;
          lockers = ((await res.json()) as { lockers: { id: string }[] }).lockers.map((l) => l.id);
          child.stdin?.write('@3 status\nuse sim-locker-2\nfault A01 relay-dead\nquit\n');
        });
      },
    });
    expect(run.code).toBe(0);
    expect(status).toBe(200);
    expect(lockers.sort()).toEqual(['sim-locker-1', 'sim-locker-2', 'sim-locker-3']);
    expect(run.stdout).toContain('locker sim-locker-3  (data dir');
    expect(run.stdout).toContain('now at sim-locker-2');
    expect(run.stdout).toMatch(/sim-locker-2 +FAULT +A01 relay-dead injected/);
  });

  it('refuses a production-looking broker, backend or NODE_ENV unless told explicitly', async () => {
    const remote = await runMain(['--data-dir', dataDir(), '--broker-url', 'mqtts://broker.example.com:8883']);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/refusing a production-looking configuration: the broker broker\.example\.com:8883 is not on this machine/);
    expect(remote.stderr).toContain('--i-know-this-is-not-production');
    const backend = await runMain(['--data-dir', dataDir(), '--broker-url', 'mqtt://127.0.0.1:1', '--backend-url', 'https://api.example.com', '--backend-api-key', 'k'.repeat(20)]);
    expect(backend.code).toBe(2);
    expect(backend.stderr).toMatch(/the backend api\.example\.com is not localhost/);
    const prod = await runMain(['--data-dir', dataDir(), '--offline', '--no-demo'], { env: { NODE_ENV: 'production' } });
    expect(prod.code).toBe(2);
    expect(prod.stderr).toMatch(/NODE_ENV is production/);
    const allowed = await runMain(['--data-dir', dataDir(), '--offline', '--no-demo', '--i-know-this-is-not-production'], { env: { NODE_ENV: 'production' } });
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/WARNING: NODE_ENV is production \(allowed by --i-know-this-is-not-production\)/);
  });

  it('refuses an unknown flag with the usage and exit code 2', async () => {
    const run = await runMain(['--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/usage: npm start/);
  });

  it('refuses an invalid config file with the reason and exit code 2', async () => {
    const dir = dataDir();
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ compartments: [{ id: 'A01', size: 'XXL' }] }));
    const run = await runMain(['--data-dir', dir, '--config', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/invalid simulator config: compartments\.0\.size/);
  });
});
