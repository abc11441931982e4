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
  /**
   * For a rejected relay pulse: whether the relay was energised before it failed (a pulse
   * cut short, a relay that would not switch off). A door may have unlocked then, so a
   * single-use credential must be spent; undefined where no relay was involved.
   */
  readonly energised: boolean | undefined;

  constructor(code: HalErrorCode, message: string, options?: { cause?: unknown; energised?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HalError';
    this.code = code;
    this.energised = options?.energised;
  }
}

/**
 * Whether a rejected pulse may have unlocked the door. Only a HalError that says the relay
 * was never energised is safe; anything else (another driver's error) counts as maybe.
 */
export function relayMayHaveEnergised(error: unknown): boolean {
  return !(error instanceof HalError) || error.energised !== false;
}

export function isHalError(error: unknown, code?: HalErrorCode): error is HalError {
  return error instanceof HalError && (code === undefined || error.code === code);
}
