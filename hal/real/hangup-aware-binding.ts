import { read } from 'node:fs';
import { promisify } from 'node:util';
import { SerialPort } from 'serialport';

// serialport's Linux/macOS binding (@serialport/bindings-cpp 13, unix-read.js) answers a
// read(2) that returns 0 bytes by reading again at once. A tty returns 0 only once it has
// been hung up: what the kernel does to /dev/ttyUSB* and /dev/ttyACM* when the USB scanner
// or keypad is unplugged. A read in flight at that moment (the line was carrying bytes)
// never ends: it re-reads forever, one core busy and one more pending promise per round,
// so the heap grows until V8 aborts the process (out of memory: no uncaughtException, no
// relays switched off), while the port still says it is open, so nothing reconnects.
// Reproduced with a real vhangup(2) of a PTY while bytes flowed: about half the hang-ups
// ended in that spin, the heap growing by megabytes a second.
// (Upstream: serialport/bindings-cpp#162, fix proposed in #164, not in the release we use.)
//
// This binding is the system one with that read replaced: the same loop (EAGAIN waits for
// the port to be readable, a closed port cancels), except that end of file is a hang-up,
// reported as an error. serialport's stream treats a read error as a disconnect: it closes
// the port and emits 'close', and SerialConnection reconnects with its backoff.

type SystemBinding = typeof SerialPort.binding;
type SystemPortBinding = Awaited<ReturnType<SystemBinding['open']>>;
type ReadResult = { buffer: Buffer; bytesRead: number };

/** What the loop needs of a unix port binding (public members of Linux/DarwinPortBinding). */
export interface UnixPortLike {
  readonly isOpen: boolean;
  fd: number | null;
  readonly poller: { once(event: 'readable', listener: (error?: Error | null) => void): unknown };
}

export type FsReadAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: null) => Promise<{ bytesRead: number }>;

const fsReadAsync: FsReadAsync = promisify(read);

/** A read on a hung-up line (end of file on a tty): the device is gone. */
export class SerialHangupError extends Error {
  readonly code = 'SERIAL_HANGUP';
  /** serialport's own marker for an error that means the device went away. */
  readonly disconnect = true;
  constructor() {
    super('serial line hung up (read returned end of file): device unplugged');
    this.name = 'SerialHangupError';
  }
}

/** serialport's stream does not treat a canceled read (the port closing) as a disconnect. */
function canceled(message: string): Error & { canceled: true } {
  return Object.assign(new Error(message), { canceled: true as const });
}

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function readable(port: UnixPortLike): Promise<void> {
  return new Promise((resolve, reject) => {
    port.poller.once('readable', (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Reads at least one byte, waiting for the port to be readable; rejects with
 * SerialHangupError on end of file instead of re-reading. A loop, not recursion: a port
 * that keeps answering EAGAIN builds no promise chain either.
 */
export async function readOrHangup(port: UnixPortLike, buffer: Buffer, offset: number, length: number, fsRead: FsReadAsync = fsReadAsync): Promise<ReadResult> {
  for (;;) {
    const fd = port.fd;
    if (!port.isOpen || fd === null) throw canceled('Port is not open');
    let bytesRead: number;
    try {
      ({ bytesRead } = await fsRead(fd, buffer, offset, length, null));
    } catch (err) {
      const code = codeOf(err);
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw err;
      if (!port.isOpen) throw canceled('Port is not open');
      await readable(port);
      continue;
    }
    if (bytesRead === 0) throw new SerialHangupError();
    return { buffer, bytesRead };
  }
}

/** The system binding with readOrHangup as every port's read (Windows, whose read differs, unchanged). */
export function hangupAwareBinding(base: SystemBinding = SerialPort.binding, platform: NodeJS.Platform = process.platform): SystemBinding {
  if (platform === 'win32') return base;
  return {
    list: () => base.list(),
    open: async (options: Parameters<SystemBinding['open']>[0]): Promise<SystemPortBinding> => {
      const port = await base.open(options as never);
      const unix = port as unknown as UnixPortLike;
      port.read = (buffer: Buffer, offset: number, length: number) => readOrHangup(unix, buffer, offset, length);
      return port;
    },
  } as SystemBinding;
}
