import { FakeClock } from '../clock/fake-clock.js';
import { GpioDoorSensors } from '../real/gpio-door-sensors.js';
import { GpioRelayBank } from '../real/gpio-relay-bank.js';
import { InMemoryGpio } from '../real/in-memory-gpio.js';
import { createSimulatedHardware } from '../sim/simulated-hardware.js';
import { doorSensorsContract } from './door-sensors-contract.js';
import { relayBankContract } from './relay-bank-contract.js';

const RELAY_PINS = new Map([['A01', 5], ['A02', 6]]);
const DOOR_PINS = new Map([['A01', 20], ['A02', 21]]);

function simulated() {
  const clock = new FakeClock();
  const sim = createSimulatedHardware({
    compartments: [{ id: 'A01' }, { id: 'A02' }],
    clock,
    maxPulseMs: 1000,
    debounceMs: 50,
    unstableAfterMs: 500,
    defaultBehaviour: { autoOpenOnPulse: false },
  });
  return { clock, ...sim };
}

relayBankContract('simulated', () => {
  const { clock, hardware, control } = simulated();
  return {
    bank: hardware.relays,
    clock,
    energised: (id) => control.energised(id),
    breakRelay: (id) => control.injectFault(id, 'relay-dead'),
    close: () => hardware.close(),
  };
});

relayBankContract('GPIO (in-memory pins, active low)', () => {
  const clock = new FakeClock();
  const gpio = new InMemoryGpio();
  const bank = new GpioRelayBank({ relays: RELAY_PINS, activeLow: true, maxPulseMs: 1000, clock, gpio });
  return {
    bank,
    clock,
    energised: (id) => gpio.isActive(RELAY_PINS.get(id) ?? -1),
    breakRelay: (id) => gpio.failIo(RELAY_PINS.get(id) ?? -1, new Error('EIO')),
    close: () => bank.close(),
  };
});

doorSensorsContract('simulated', () => {
  const { clock, hardware, control } = simulated();
  return {
    sensors: hardware.doors,
    clock,
    open: (id) => {
      control.injectFault(id, 'forced-open');
      control.clearFault(id, 'forced-open');
    },
    close: (id) => control.closeDoor(id),
    breakSensor: (id) => control.injectFault(id, 'sensor-dead'),
    repairSensor: (id) => control.clearFault(id, 'sensor-dead'),
  };
});

doorSensorsContract('GPIO (in-memory pins)', () => {
  const clock = new FakeClock();
  const gpio = new InMemoryGpio();
  const sensors = new GpioDoorSensors({ doors: DOOR_PINS, activeLow: false, clock, gpio, debounceMs: 50, unstableAfterMs: 500 });
  const pin = (id: string): number => DOOR_PINS.get(id) ?? -1;
  return {
    sensors,
    clock,
    open: (id) => gpio.setLogical(pin(id), 1),
    close: (id) => gpio.setLogical(pin(id), 0),
    breakSensor: (id) => gpio.failIo(pin(id), new Error('EIO')),
    repairSensor: (id) => {
      gpio.failIo(pin(id), undefined);
      // The watch callback only fires on edges; the periodic poll is what notices recovery.
      sensors.poll();
    },
  };
});
