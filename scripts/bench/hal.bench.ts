// HAL hot paths (run: npx tsx scripts/bench/hal.bench.ts). Prints `name: value unit` lines.
// Input framing runs on every serial byte and a scanner can stream 2 KB tokens, so it must
// stay far below the board's budget; the relay/door figures show the per-pulse overhead of
// the shared driver logic under the fake clock (no real I/O).
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { decodeKeypadBytes } from '@locker/hal/input/keypad-protocol.js';
import { ScannerFramer } from '@locker/hal/input/scanner-framing.js';
import { createSimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { opsPerSecond, print } from './bench-kit.js';

const token = Buffer.from(`v4.public.${'A'.repeat(400)}\r\n`);
const framer = new ScannerFramer();
const scansPerSecond = opsPerSecond(() => framer.push(token), 1.5);
print('scanner_frame_412B_lines', scansPerSecond, 'lines/s');
print('scanner_frame_throughput', Math.round((scansPerSecond * token.length) / 1_048_576), 'MiB/s');

const noisy = Buffer.alloc(4096, 0xff);
print('scanner_oversized_4KiB_chunks', opsPerSecond(() => framer.push(noisy), 1), 'chunks/s');

const code = Buffer.from('12345678#');
print('keypad_decode_9B_codes', opsPerSecond(() => decodeKeypadBytes(code), 1), 'codes/s');

const clock = new FakeClock();
const ids = Array.from({ length: 32 }, (_, i) => `C${String(i).padStart(2, '0')}`);
const { hardware, control } = createSimulatedHardware({
  compartments: ids.map((id) => ({ id })),
  clock,
  defaultBehaviour: { autoOpenOnPulse: true, autoCloseAfterMs: 10 },
});
let n = 0;
print(
  'sim_pulse_open_close_cycles',
  opsPerSecond(() => {
    const id = ids[n++ % ids.length] ?? 'C00';
    void hardware.relays.pulse(id, 5);
    clock.advance(100);
  }, 1.5),
  'cycles/s',
);
print('sim_pulses_recorded', control.pulses().length, 'pulses');
await hardware.close();
