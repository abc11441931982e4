import { HalError } from '../hal-error.js';
import type { GpioPin, GpioPinFactory, PinValue } from './gpio-pin.js';

// Type-only: erased at compile time, so importing this file never loads onoff.
import type { Gpio as OnoffGpio } from 'onoff';

type OnoffModule = { Gpio: typeof OnoffGpio };

/**
 * The GpioPinFactory on the board, built on onoff. Loaded lazily and checked up front: on
 * a machine without /sys/class/gpio onoff throws ENOENT from the constructor, which we turn
 * into one clear GPIO_UNAVAILABLE instead of a crash deep inside driver setup.
 */
export async function createOnoffGpioFactory(): Promise<GpioPinFactory> {
  let onoff: OnoffModule;
  try {
    onoff = await import('onoff');
  } catch (error) {
    throw new HalError('GPIO_UNAVAILABLE', 'the onoff module could not be loaded', { cause: error });
  }
  if (!onoff.Gpio.accessible) {
    throw new HalError('GPIO_UNAVAILABLE', 'GPIO is not accessible on this machine (no /sys/class/gpio)');
  }
  const open = (create: () => OnoffGpio, pin: number): OnoffGpio => {
    try {
      return create();
    } catch (error) {
      throw new HalError('GPIO_UNAVAILABLE', `GPIO ${pin} could not be exported`, { cause: error });
    }
  };
  return {
    output(pin, { activeLow }) {
      // 'low' sets the direction and the inactive level in one write: no glitch on the relay.
      const gpio = open(() => new onoff.Gpio(pin, activeLow ? 'high' : 'low', 'none', { activeLow }), pin);
      const wrapped = wrap(gpio);
      wrapped.write(0);
      return wrapped;
    },
    input(pin, { activeLow, debounceTimeoutMs }) {
      return wrap(open(() => new onoff.Gpio(pin, 'in', 'both', { activeLow, debounceTimeout: debounceTimeoutMs }), pin));
    },
  };
}

function wrap(gpio: OnoffGpio): GpioPin {
  let exported = true;
  return {
    read: () => gpio.readSync(),
    write: (value: PinValue) => gpio.writeSync(value),
    watch: (callback) => gpio.watch((error, value) => callback(error, value)),
    unwatch: () => gpio.unwatchAll(),
    unexport: () => {
      if (!exported) return;
      exported = false;
      gpio.unwatchAll();
      gpio.unexport();
    },
  };
}
