import type { Logger } from 'pino';
import { decodeKeypadBytes } from '../input/keypad-protocol.js';
import { Listeners } from '../listeners.js';
import type { Clock, InputRejection, KeyPress, Keypad, Unsubscribe } from '../types.js';
import { SerialConnection, type SerialPortOpener } from './serial-connection.js';

export interface SerialKeypadOptions {
  path: string;
  baudRate: number;
  clock: Clock;
  openPort?: SerialPortOpener;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

/** The keypad controller on a serial line, decoded by the shared keypad protocol. */
export class SerialKeypad implements Keypad {
  private readonly keys: Listeners<KeyPress>;
  private readonly rejections: Listeners<InputRejection>;
  private readonly connection: SerialConnection;
  private readonly clock: Clock;

  constructor(options: SerialKeypadOptions) {
    const onListenerError = (error: unknown): void => options.logger?.error({ err: error }, 'keypad.listener_failed');
    this.keys = new Listeners(onListenerError);
    this.rejections = new Listeners(onListenerError);
    const { clock } = options;
    this.clock = clock;
    this.connection = new SerialConnection({
      ...options,
      onData: (chunk) => {
        for (const event of decodeKeypadBytes(chunk)) {
          if (event.type === 'key') this.keys.emit({ key: event.key, at: clock.now() });
          else this.reject(event.reason, event.length);
        }
      },
      onIoError: () => this.reject('io-error', 0),
    });
  }

  start(): void {
    this.connection.start();
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }

  onKey(listener: (press: KeyPress) => void): Unsubscribe {
    return this.keys.add(listener);
  }

  onRejected(listener: (rejection: InputRejection) => void): Unsubscribe {
    return this.rejections.add(listener);
  }

  private reject(reason: InputRejection['reason'], length: number): void {
    this.rejections.emit({ source: 'keypad', reason, length, at: this.clock.now() });
  }
}
