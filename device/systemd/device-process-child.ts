// Child process of systemd-notify.test.ts: the real device process (runDeviceProcess, as
// `node device/main.ts` runs it), plus test hooks on stdin: "block <ms>" busy-waits the
// event loop, as a runaway synchronous bug would; "crash throw|reject" fails as a bug would. Markers go to stdout as JSON lines beside
// the device's pino lines.
import { runDeviceProcess } from '../main.js';

const marker = (name: string): void => {
  process.stdout.write(`${JSON.stringify({ marker: name, at: Date.now() })}\n`);
};

process.stdin.on('data', (chunk: Buffer) => {
  // "crash throw" / "crash reject": a bug's exception that nothing catches, or a rejection nobody handles.
  const crash = /crash (throw|reject)/.exec(chunk.toString());
  if (crash !== null) {
    marker('crashing');
    if (crash[1] === 'throw') {
      setImmediate(() => {
        throw new Error('test bug: thrown');
      });
    } else {
      void Promise.reject(new Error('test bug: rejected'));
    }
    return;
  }
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
