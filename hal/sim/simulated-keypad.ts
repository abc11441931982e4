import { decodeKeypadBytes, keyToByte } from '../input/keypad-protocol.js';
import type { Logger } from 'pino';
import { Listeners } from '../listeners.js';
import type { Clock, InputRejection, Key, KeyPress, Keypad, Unsubscribe } from '../types.js';

/**
 * A keypad fed by hand. Every input goes through the same byte decoder as the serial
 * keypad, so a simulated press and a real one are indistinguishable to the runtime.
 */
export class SimulatedKeypad implements Keypad {
  private readonly keys: Listeners<KeyPress>;
  private readonly rejections: Listeners<InputRejection>;

  constructor(
    private readonly clock: Clock,
    logger?: Logger,
  ) {
    const onListenerError = (error: unknown): void => logger?.error({ err: error }, 'keypad.listener_failed');
    this.keys = new Listeners(onListenerError);
    this.rejections = new Listeners(onListenerError);
  }

  onKey(listener: (press: KeyPress) => void): Unsubscribe {
    return this.keys.add(listener);
  }

  onRejected(listener: (rejection: InputRejection) => void): Unsubscribe {
    return this.rejections.add(listener);
  }

  /** Types the characters as the controller would send them: '12345678#', 'C', '*'. */
  press(keys: string): void {
    this.injectBytes(Buffer.from(keys, 'latin1'));
  }

  pressKey(key: Key): void {
    this.injectBytes(Uint8Array.of(keyToByte(key)));
  }

  /** Raw bytes off the wire, garbage included. */
  injectBytes(bytes: Uint8Array): void {
    for (const event of decodeKeypadBytes(bytes)) {
      const at = this.clock.now();
      if (event.type === 'key') this.keys.emit({ key: event.key, at });
      else this.rejections.emit({ source: 'keypad', reason: event.reason, length: event.length, at });
    }
  }
}
