// One error type for the whole HAL, so callers branch on a stable `code` rather than on
// message text or on which driver threw.

export type HalErrorCode =
  | 'RELAY_UNKNOWN_COMPARTMENT'
  | 'RELAY_FAULT'
  | 'SENSOR_UNKNOWN_COMPARTMENT'
  | 'GPIO_UNAVAILABLE'
  | 'GPIO_CHIP_NOT_FOUND'
  | 'GPIO_LINE_OUT_OF_RANGE'
  | 'SERIAL_OPEN_FAILED'
  | 'CONFIG_INVALID'
  | 'HAL_CLOSED';

export class HalError extends Error {
  readonly code: HalErrorCode;

  constructor(code: HalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HalError';
    this.code = code;
  }
}

export function isHalError(error: unknown, code?: HalErrorCode): error is HalError {
  return error instanceof HalError && (code === undefined || error.code === code);
}
