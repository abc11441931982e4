import { writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { parseFleetArgs, usage, UsageError } from './fleet-args.js';
import { FleetStartInterrupted, startFleet, type Fleet } from './fleet.js';
import { formatSummary, statusLine, summarise } from './fleet-summary.js';
import { LoadDriver } from './load-driver.js';

// `npm run fleet -- --lockers N`: the fleet's composition root. Starts broker, backend and
// lockers (fleet.ts), drives the load (load-driver.ts) while printing live figures — one
// refreshing line on a terminal, a line every --report-every seconds otherwise — and ends
// with the summary. Exit 0 when nothing was lost or duplicated and every operation
// succeeded, 1 otherwise, 2 on a usage error, 130/143 when interrupted by SIGINT/SIGTERM.

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  let cli;
  try {
    cli = parseFleetArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`fleet: ${err.message}\n${usage}\n`);
    return 2;
  }
  if (cli.help) {
    out(usage);
    return 0;
  }
  const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'warn', base: { component: 'fleet' } }, pino.destination(2));
  const abort = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      // A second signal: stop waiting for a graceful end (the exit handlers SIGKILL the workers).
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    signalled = sig;
    logger.warn({ signal: sig }, 'fleet.stopping');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let fleet: Fleet | undefined;
  const interruptedCode = (): number => (signalled === 'SIGINT' ? 130 : 143);
  try {
    out(`fleet: starting ${String(cli.setup.lockers)} lockers in ${String(cli.setup.workers)} worker(s)`);
    // A signal while starting: startFleet stops what it built and throws FleetStartInterrupted.
    fleet = await startFleet(cli.setup, logger, out, abort.signal);
    const f = fleet;
    const ready = await waitReady(f, abort.signal, 60_000 + cli.setup.lockers * 60);
    if (abort.signal.aborted) {
      out(`fleet: interrupted by ${String(signalled)} while starting`);
      return interruptedCode();
    }
    out(`fleet: ${String(ready)}/${String(f.lockerIds.length)} lockers online at the backend with their code set; load ${String(cli.load.rate)} ops/s for ${String(cli.load.durationS)} s`);

    const load = new LoadDriver(f.lockerIds, { api: f.api, device: f.pool, notices: f.notices, effectTimeoutMs: 30_000 }, { ...cli.load, slotsPerLocker: cli.setup.compartments, size: cli.setup.size });
    f.api.resetLatency();
    const started = performance.now();
    const tty = process.stdout.isTTY;
    let lastReport = started;
    let live = true;
    const ticker = setInterval(() => {
      void f.pool.stats(900).then((s) => {
        // A reply that lands after the load ended must not print over the summary.
        if (!live) return;
        const online = s.connected;
        const line = statusLine({ elapsedS: (performance.now() - started) / 1000, online, lockers: f.lockerIds.length, load, apiP50: f.api.latency.percentile(50), apiP99: f.api.latency.percentile(99) });
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else if (performance.now() - lastReport >= cli.reportEveryS * 1000 - 500) {
          lastReport = performance.now();
          out(line);
        }
      });
    }, 1000);
    try {
      await load.run(abort.signal);
    } finally {
      live = false;
      clearInterval(ticker);
      if (tty) process.stdout.write('\n');
    }
    const seconds = (performance.now() - started) / 1000;
    const interrupted = abort.signal.aborted;
    if (interrupted) out(`fleet: interrupted by ${String(signalled)} after ${String(Math.round(seconds))} s; ${String(load.opsDone)} operations done; stopping the lockers`);
    // Interrupted: a short settle, and parcels cut off in flight show as failed (not lost).
    const summary = await summarise(f, load, { seconds, interrupted, settleMs: interrupted ? 2_000 : 20_000 });
    for (const line of formatSummary(summary)) out(line);
    if (cli.summaryJson !== undefined) writeFileSync(cli.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
    if (interrupted) return interruptedCode();
    return summary.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof FleetStartInterrupted) {
      // startFleet has stopped what it had started (fleet is unset: nothing more to stop below).
      out(`fleet: interrupted by ${String(signalled)} while starting`);
      out('fleet: stopped (workers exited, broker and backend closed)');
      return interruptedCode();
    }
    logger.error({ err }, 'fleet.failed');
    process.stderr.write(`fleet: ${err instanceof Error ? err.message : String(err)}\n`);
    return signalled === undefined ? 1 : interruptedCode();
  } finally {
    // A failure while stopping is reported, not thrown: the exit status stays the run's
    // (143 after SIGTERM), where an escaping rejection would turn it into Node's 1.
    try {
      await fleet?.stop();
      if (fleet !== undefined) out('fleet: stopped (workers exited, broker and backend closed)');
    } catch (err) {
      logger.error({ err }, 'fleet.stop_failed');
      process.stderr.write(`fleet: stopping failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

async function waitReady(f: Fleet, signal: AbortSignal, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await f.backendReady();
    if (n === f.lockerIds.length || Date.now() > deadline || signal.aborted) return n;
    await new Promise((r) => setTimeout(r, 250));
  }
}

process.exit(await main());
