// The simulator's composition root (`npm start`): one simulated locker running the real
// device runtime on virtual hardware, a scripted demo, then the technician console when
// stdin is a terminal (or --interactive). Without a terminal it exits after the demo, so
// `npm start` also works in CI. Human output goes to stdout; structured logs go to
// <data-dir>/simulator.log.
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { isDeviceError } from '@locker/device/errors.js';
import { createLogger, type Logger } from '@locker/device/logger.js';
import { dataDirPaths, ensureDataDir, wipeDataDir } from './data-dir.js';
import { runDemoScenario } from './demo-scenario.js';
import { createSimStack, type SimStack } from './sim-stack.js';
import { openLockerSim, type LockerSim } from './locker-sim.js';
import { parseMainArgs, usage } from './main-args.js';
import { ParcelDesk } from './parcel-desk.js';
import { startConsole, type RunningConsole } from './repl.js';
import { loadSimConfig, type SimLockerConfig } from './sim-config.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function resumeSummary(sim: LockerSim): string {
  const occupied = sim.store.listCompartments().filter((c) => c.status === 'occupied').length;
  return `resumed from the data dir: code set version ${String(sim.store.codeSetState().version)}, ${String(sim.store.liveCodeCount())} live codes, ${String(occupied)} occupied compartments, ${String(sim.store.auditHighWatermark())} audit records`;
}

/** The error for a person: the device's error code, and where to look for the database ones. */
function describeFailure(err: unknown): string {
  if (!isDeviceError(err)) return err instanceof Error ? err.message : String(err);
  const hint = err.code.startsWith('DB_') ? " (docs/operations.md, 'The database is corrupt or unreadable'; --fresh starts a new locker)" : '';
  return `${err.code}: ${err.message}${hint}`;
}

async function main(): Promise<number> {
  const parsed = parseMainArgs(process.argv.slice(2));
  if (!parsed.ok) {
    process.stderr.write(`simulator: ${parsed.error}\n${usage}\n`);
    return 2;
  }
  const { args } = parsed;
  if (args.help) {
    out(usage);
    return 0;
  }
  let config: SimLockerConfig;
  try {
    config = loadSimConfig(args.config);
  } catch (err) {
    process.stderr.write(`simulator: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const paths = dataDirPaths(args.dataDir);
  if (args.fresh) wipeDataDir(paths);
  const resumed = existsSync(paths.database);
  ensureDataDir(paths);
  const logger: Logger = createLogger({
    name: 'simulator',
    level: config.logLevel,
    destination: pino.destination({ dest: paths.log, sync: true, mkdir: true }),
  });

  out(`Parcel locker simulator: locker ${config.lockerId}, ${String(config.compartments.length)} compartments`);
  out(`data dir ${paths.root}${args.fresh ? ' (wiped: --fresh)' : ''}; logs in ${paths.log}`);

  let stack: SimStack | undefined;
  let sim: LockerSim | undefined;
  let console_: RunningConsole | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, 'simulator.shutdown');
      console_?.close();
      // Network side first (as device/main.ts does), then the locker: relays off, store closed.
      await stack?.stop();
      await sim?.stop();
      out(`locker stopped (${reason}): relays off, database closed`);
    })();
    return stopping;
  };
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled = true;
    void shutdown(signal).then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    stack = await createSimStack({ config, paths, logger, sync: !args.offline, say: out });
    sim = await openLockerSim({ config, dataDir: paths.root, logger, createRuntime: stack.createRuntime });
    await sim.start();
    out(resumed ? resumeSummary(sim) : 'new locker: empty database created');
    await stack.afterStart(sim);

    if (args.demo) {
      out('\n=== Demo: a parcel from the backend to the customer ===');
      const source = await stack.demoSource(sim);
      await runDemoScenario({ sim, source, print: out });
    }

    const terminal = process.stdin.isTTY === true;
    const interactive = args.interactive || terminal;
    if (interactive) {
      out('');
      const deskSource = await stack.demoSource(sim);
      const running = sim;
      console_ = startConsole({
        sim,
        input: process.stdin,
        output: process.stdout,
        interactive: terminal,
        logger,
        view: stack.view,
        desk: (print) => new ParcelDesk(running, deskSource, print),
      });
      await console_.done;
    }
    await shutdown(interactive ? 'console closed' : 'demo finished');
    return 0;
  } catch (err) {
    // A demo step cut short by Ctrl-C fails because the locker is stopping: not an error.
    if (signalled) {
      await shutdown('signal');
      return 0;
    }
    logger.error({ err }, 'simulator.failed');
    process.stderr.write(`simulator: ${describeFailure(err)}\n`);
    await shutdown('error').catch(() => undefined);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`simulator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
