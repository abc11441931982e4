// The public API of the hardware layer. Nothing outside hal/ imports a driver file.
export type * from './types.js';
export { HalError, isHalError, relayMayHaveEnergised, type HalErrorCode } from './hal-error.js';
export { SystemClock, systemClock } from './clock/system-clock.js';
export { FakeClock, type FakeClockOptions } from './clock/fake-clock.js';
export { cryptoRandom, SeededRandom } from './random.js';
export { decodeKeypadBytes, byteToKey, keyToByte, type KeypadEvent } from './input/keypad-protocol.js';
export { ScannerFramer, DEFAULT_SCAN_MAX_LENGTH, type ScannerEvent } from './input/scanner-framing.js';
export { clampPulseMs, type PulseRecord } from './pulsed-relay-bank.js';
export { DEFAULT_DEBOUNCE_MS, DEFAULT_UNSTABLE_AFTER_MS } from './debounced-door-sensors.js';
export {
  hardwareConfigSchema,
  simulatedHardwareConfigSchema,
  realHardwareConfigSchema,
  parseHardwareConfig,
  type HardwareConfig,
  type HardwareConfigInput,
  type SimulatedHardwareConfig,
  type RealHardwareConfig,
} from './hardware-config.js';
export { createHardware, type CreateHardwareDeps, type CreatedHardware } from './create-hardware.js';
export {
  createSimulatedHardware,
  DEFAULT_MAX_PULSE_MS,
  type SimulatedHardware,
  type SimulatedHardwareOptions,
  type SimulatedLockerControl,
} from './sim/simulated-hardware.js';
export { SIM_FAULTS, type CompartmentBehaviour, type SimFault } from './sim/compartment-model.js';
export type { IndicatorEvent, SimulatedIndicator } from './sim/simulated-indicator.js';
export type { SimulatedKeypad } from './sim/simulated-keypad.js';
export type { SimulatedScanner } from './sim/simulated-scanner.js';
export type { GpioPin, GpioPinFactory, PinValue } from './real/gpio-pin.js';
export { InMemoryGpio } from './real/in-memory-gpio.js';
export type { SerialPortOpener, SerialPortLike } from './real/serial-connection.js';
