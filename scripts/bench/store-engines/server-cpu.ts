import { readFileSync } from 'node:fs';
import type pg from 'pg';

// CPU spent by the PostgreSQL backends serving one connection pool, read from /proc (the
// server runs on this machine). process.cpuUsage sees only the client; a query layer that
// sends unnamed statements moves parse and plan work to the server, which on 2 shared
// cores is CPU the client no longer has, so both sides are reported.

const TICK_US = 10_000; // USER_HZ is 100 on Linux/x86-64

export async function backendPids(pool: pg.Pool, applicationName: string): Promise<number[]> {
  const r = await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
  return r.rows.map((row) => row.pid);
}

/** utime + stime of the processes, in µs; a process that has gone counts as 0. */
export function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return ticks * TICK_US;
}
