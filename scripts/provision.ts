// `npm run provision -- --backend URL --locker locker.json --broker mqtts://… --out DIR
//   [--mosquitto-passwd FILE] [--etc-dir /etc/locker] [--data-dir /var/lib/locker]`
// The admin API key comes from LOCKER_API_KEY (never an argument: it would show in ps).
// See docs/operations.md "Provisioning a new board".
import { parseArgs } from 'node:util';
import { describeError } from '@locker/device/errors.js';
import { provisionLocker, readProvisionInput } from './provision/provision-locker.js';

const usage = 'usage: npm run provision -- --backend URL --locker locker.json --broker mqtts://host:8883 --out DIR [--mosquitto-passwd FILE] [--etc-dir /etc/locker] [--data-dir /var/lib/locker]  (admin key in LOCKER_API_KEY)';

async function main(): Promise<void> {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      options: {
        backend: { type: 'string' },
        locker: { type: 'string' },
        broker: { type: 'string' },
        out: { type: 'string' },
        'mosquitto-passwd': { type: 'string' },
        'etc-dir': { type: 'string', default: '/etc/locker' },
        'data-dir': { type: 'string', default: '/var/lib/locker' },
        'firmware-version': { type: 'string', default: 'locker-device' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
  }
  try {
    values = parse().values;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const apiKey = process.env['LOCKER_API_KEY'];
  const { backend, locker, broker, out } = values;
  if (backend === undefined || locker === undefined || broker === undefined || out === undefined || apiKey === undefined || apiKey === '') {
    process.stderr.write(`${usage}\n`);
    process.exit(2);
  }
  const result = await provisionLocker({
    backendUrl: backend,
    apiKey,
    input: readProvisionInput(locker),
    brokerUrl: broker,
    outDir: out,
    etcDir: values['etc-dir'],
    dataDir: values['data-dir'],
    firmwareVersion: values['firmware-version'],
    ...(values['mosquitto-passwd'] === undefined ? {} : { mosquittoPasswd: values['mosquitto-passwd'] }),
  });
  process.stdout.write(
    [
      `locker ${result.lockerId} registered; bundle written (trusted keys: ${String(result.trustedKeys)}):`,
      `  ${result.configPath}  -> ${values['etc-dir']}/device.json on the board`,
      `  ${result.pepperPath}  -> ${values['etc-dir']}/code-pepper on the board`,
      // install.sh sets the modes the service user needs (config 0640 root:locker, pepper 0400
      // locker); a config copied by hand as root 0600 is unreadable to the locker and it never starts.
      `  install both on the board with: sudo locker-device-<version>/install.sh --config device.json --pepper code-pepper`,
      values['mosquitto-passwd'] === undefined
        ? `  ${result.brokerEntryPath}  -> on the broker: sync/mosquitto/make-passwd.sh /etc/mosquitto/locker-passwd < that file, then reload mosquitto`
        : `  broker user ${result.lockerId} added to ${values['mosquitto-passwd']}: reload mosquitto (SIGHUP) to admit it`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`provisioning failed: ${describeError(err)}\n`);
  process.exit(1);
});
