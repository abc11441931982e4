// The simulator's composition root (`npm start`): a session of simulated lockers (three by
// default, at different places) running the real device runtime on virtual hardware, with
// the embedded broker and backend (or external ones), a scripted demo on the first locker,
// then the technician console when stdin is a terminal (or --interactive). Without a
// terminal it exits after the demo, so `npm start` also works in CI. Human output goes to
// stdout; structured logs go to <data-dir>/simulator.log.
import { startSessionPanel } from './panel/session-panel-port.js';
import type { PanelServer } from './panel/panel-server.js';
import { pino } from 'pino';
import { isDeviceError } from '@locker/device/errors.js';
import { createLogger, type Logger } from '@locker/device/logger.js';
import { dataDirPaths, ensureDataDir, wipeDataDir } from './data-dir.js';
import { runDemoScenario } from './demo-scenario.js';
import type { LockerNode } from './locker-node.js';
import { parseMainArgs, usage } from './main-args.js';
import { OVERRIDE_FLAG, productionRisks } from './production-guard.js';
import { startConsole, type RunningConsole } from './repl.js';
import { loadSessionConfig, withExternal, type SimSessionConfig } from './sim-config.js';
import { SimSession } from './sim-session.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function resumeSummary(node: LockerNode): string {
  const { store } = node.sim;
  const occupied = store.listCompartments().filter((c) => c.status === 'occupied').length;
  return `${node.lockerId}: resumed from the data dir: code set version ${String(store.codeSetState().version)}, ${String(store.liveCodeCount())} live codes, ${String(occupied)} occupied compartments, ${String(store.auditHighWatermark())} audit records`;
}

/** The error for a person: the device's error code, and where to look for the database ones. */
function describeFailure(err: unknown): string {
  if (!isDeviceError(err)) return err instanceof Error ? err.message : String(err);
  const hint = err.code.startsWith('DB_') ? " (docs/operations.md, 'The database is corrupt or unreadable'; --fresh starts new lockers)" : '';
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
  let config: SimSessionConfig;
  try {
    config = withExternal(loadSessionConfig(args.config), {
      ...(args.brokerUrl === undefined ? {} : { brokerUrl: args.brokerUrl }),
      ...(args.backendUrl === undefined ? {} : { backendUrl: args.backendUrl }),
      ...(args.backendApiKey === undefined ? {} : { backendApiKey: args.backendApiKey }),
    });
  } catch (err) {
    process.stderr.write(`simulator: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const risks = productionRisks(config.external, process.env);
  if (risks.length > 0 && !args.notProduction) {
    process.stderr.write(`simulator: refusing a production-looking configuration: ${risks.join('; ')}.\nThe simulator registers lockers, places orders and opens doors on what it is pointed at. If this really is not production, add ${OVERRIDE_FLAG}.\n`);
    return 2;
  }
  const paths = dataDirPaths(args.dataDir);
  if (args.fresh) wipeDataDir(paths);
  ensureDataDir(paths);
  const logger: Logger = createLogger({
    name: 'simulator',
    level: config.lockers[0]?.logLevel ?? 'info',
    destination: pino.destination({ dest: paths.log, sync: true, mkdir: true }),
  });

  out(`Parcel locker simulator: ${String(config.lockers.length)} locker(s): ${config.lockers.map((l) => `${l.lockerId} (${l.site.name ?? l.site.city}, ${String(l.compartments.length)} compartments)`).join(', ')}`);
  out(`data dir ${paths.root}${args.fresh ? ' (wiped: --fresh)' : ''}; logs in ${paths.log}`);
  if (risks.length > 0) out(`WARNING: ${risks.join('; ')} (allowed by ${OVERRIDE_FLAG})`);

  let session: SimSession | undefined;
  let panel: PanelServer | undefined;
  let console_: RunningConsole | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, 'simulator.shutdown');
      console_?.close();
      await panel?.close();
      await session?.close();
      if (session !== undefined) out(`lockers stopped (${reason}): relays off, databases closed`);
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
    session = await SimSession.start({ config, dataDir: paths.root, logger, sync: !args.offline, say: out });
    for (const id of session.lockerIds()) {
      const node = session.node(id);
      out(session.resumed.has(id) ? resumeSummary(node) : `${id}: new locker, empty database created`);
    }
    // The panel registers its URL with the session, so it prints with the others.
    panel = await startSessionPanel(session, logger.child({ component: 'panel' }));
    for (const line of session.urlLines()) out(line);

    const first = session.node(session.lockerIds()[0] ?? '');
    if (args.demo && config.external.backendUrl !== undefined) {
      out('\n(demo skipped: an external backend does not hand the customer\'s code to the simulator)');
    } else if (args.demo) {
      out(`\n=== Demo on ${first.lockerId}: a parcel from the backend to the customer ===`);
      await runDemoScenario({ sim: first.sim, source: await first.parcelSource(), print: out });
    }

    const terminal = process.stdin.isTTY === true;
    const interactive = args.interactive || terminal;
    if (interactive) {
      out('');
      console_ = startConsole({ session, input: process.stdin, output: process.stdout, interactive: terminal, logger });
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
