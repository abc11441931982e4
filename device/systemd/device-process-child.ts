// Child process of systemd-notify.test.ts: the real device process (runDeviceProcess, as
// `node device/main.ts` runs it), plus one test hook on stdin: "block <ms>" busy-waits the
// event loop, as a runaway synchronous bug would. Markers go to stdout as JSON lines beside
// the device's pino lines.
import { runDeviceProcess } from '../main.js';

const marker = (name: string): void => {
  process.stdout.write(`${JSON.stringify({ marker: name, at: Date.now() })}\n`);
};

process.stdin.on('data', (chunk: Buffer) => {
  const match = /block (\d+)/.exec(chunk.toString());
  if (match === null) return;
  const until = Date.now() + Number(match[1]);
  marker('blocking');
  while (Date.now() < until) {
    // The event loop is stuck here: no timer, no I/O callback runs.
  }
  marker('unblocked');
});

await runDeviceProcess(process.argv[2]);
marker('started');
