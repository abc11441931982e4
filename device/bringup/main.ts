import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import { createHardware } from '@locker/hal/create-hardware.js';
import { listSerialPorts } from '@locker/hal/real/list-serial-ports.js';
import { readDeviceConfigFile } from '../config.js';
import { isDeviceError } from '../errors.js';
import { createLogger } from '../logger.js';
import { runBringup } from './bringup-session.js';
import { createPrompter } from './prompter.js';
import { formatResultTable, overallPassed } from './result-table.js';

// `npm run bringup -- [/etc/locker/device.json]`: the technician's check of a new locker,
// on the hardware the device config names. Stop the service first (systemctl stop
// locker-device): the GPIO lines and serial ports can have one user only.

const INPUT_WAIT_MS = 30_000;

const USAGE = 'usage: bringup [device.json]   (default: $LOCKER_CONFIG, else /etc/locker/device.json; stop locker-device first)\n';

async function main(): Promise<number> {
  if (process.argv[2] === '--help' || process.argv[2] === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  const configPath = process.argv[2] ?? process.env['LOCKER_CONFIG'] ?? '/etc/locker/device.json';
  const config = readDeviceConfigFile(configPath);
  const logger = createLogger({ level: 'warn', name: 'locker-bringup' });
  const clock = new SystemClock();
  const created = await createHardware(config.hardware, { clock, logger: logger.child({ component: 'hal' }) });
  const { hardware } = created;
  const prompter = createPrompter(process.stdin, process.stdout);
  try {
    prompter.say(`Bring-up of locker ${config.lockerId} (${hardware.kind} hardware, config ${configPath})`);
    const hw = config.hardware;
    const results = await runBringup({
      hardware,
      prompter,
      clock,
      listPorts: () => listSerialPorts(),
      expectedPorts: hw.kind === 'real' ? [hw.keypad.path, hw.scanner.path, hw.display.path] : [],
      pulseMs: config.timeouts.pulseMs,
      inputWaitMs: INPUT_WAIT_MS,
    });
    prompter.say('');
    prompter.say(formatResultTable(results));
    return overallPassed(results) ? 0 : 1;
  } finally {
    prompter.close();
    await hardware.close();
  }
}

// realpath: on the board node runs <prefix>/current/main.js, a symlink, and names the module
// by its real path (releases/<version>/main.js) while argv keeps the link (docs/hardware.md).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      const code = isDeviceError(err) ? err.code : err instanceof Error && 'code' in err ? String(err.code) : 'INTERNAL';
      process.stderr.write(`bring-up failed: ${code}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
