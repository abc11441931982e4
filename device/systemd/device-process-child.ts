// Child process of systemd-notify.test.ts: the real device process (runDeviceProcess, as
// `node device/main.ts` runs it), plus test hooks on stdin: "block <ms>" busy-waits the
// event loop, as a runaway synchronous bug would; "crash throw|reject" fails as a bug would;
// "keys <keys>" presses keys on the simulated keypad. Markers go to stdout as JSON lines beside
// the device's pino lines.
import { runDeviceProcess, type RunningDevice } from '../main.js';

/** Set once the device runs: the keys hook drives its simulated keypad. */
const running: { device?: RunningDevice } = {};

const marker = (name: string): void => {
  process.stdout.write(`${JSON.stringify({ marker: name, at: Date.now() })}\n`);
};

process.stdin.on('data', (chunk: Buffer) => {
  const keys = /keys ([0-9#C*]+)/.exec(chunk.toString());
  if (keys?.[1] !== undefined) {
    running.device?.control?.keypad.press(keys[1]);
    marker('pressed');
    return;
  }
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

running.device = await runDeviceProcess(process.argv[2]);
marker('started');
