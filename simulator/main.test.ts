import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

function runMain(args: string[], options: { stdin?: string; keepStdinOpen?: boolean; onStdout?: (all: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'simulator/main.ts', ...args], {
      cwd: process.cwd(),
      stdio: [options.stdin === undefined && options.keepStdinOpen !== true ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test' },
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
  it('runs the demo with stdin closed, prints every step and exits 0', async () => {
    const run = await runMain(['--data-dir', dataDir()]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
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
    expect(run.stdout).toMatch(/locker stopped \(demo finished\): relays off, database closed/);
  });

  it('resumes from the data dir on a second start and wipes it with --fresh', async () => {
    const dir = dataDir();
    expect((await runMain(['--data-dir', dir, '--no-demo'])).stdout).toContain('new locker');
    expect((await runMain(['--data-dir', dir, '--no-demo'])).stdout).toMatch(/resumed from the data dir: code set version 0/);
    expect((await runMain(['--data-dir', dir, '--no-demo', '--fresh'])).stdout).toContain('new locker');
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
    const run = await runMain(['--data-dir', dataDir(), '--no-demo', '--interactive'], {
      keepStdinOpen: true,
      onStdout: (all, child) => {
        const write = (text: string): void => void child.stdin?.write(text);
        if (all.includes('technician console')) once('parcel', () => write('parcel M\n'));
        const assigned = /parcel (\S+) is assigned to (A\d\d)/.exec(all);
        if (assigned !== null) once('deposit', () => write(`courier\nwait 200\nscan ${assigned[1]!}\nwait 300\nclose ${assigned[2]!}\n`));
        const code = /received code (\d{8})/.exec(all);
        if (code !== null) once('pickup', () => write('qr\nwait 500\nstatus\nquit\n'));
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
    expect(run.stdout).toContain('locker stopped (SIGTERM): relays off, database closed');
  });

  it('fails closed on a corrupt database: exit 1 with DB_CORRUPT, never an empty locker', async () => {
    const dir = dataDir();
    expect((await runMain(['--data-dir', dir, '--no-demo', '--offline'])).code).toBe(0);
    const db = join(dir, 'locker.db');
    const bytes = readFileSync(db);
    bytes.write('garbage garbage garbage', 100);
    writeFileSync(db, bytes);
    const run = await runMain(['--data-dir', dir, '--no-demo', '--offline']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DB_CORRUPT/);
    expect(run.stdout).not.toContain('new locker');
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
