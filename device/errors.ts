// One error class for the device side, with a code a caller can switch on. Messages are for
// operators; they never contain a code or a token.

export const deviceErrorCodes = [
  'CONFIG_INVALID',
  'DB_CORRUPT',
  'DB_UNREADABLE',
  'DB_DURABILITY',
  'DB_MIGRATION',
  'TOKEN_MALFORMED',
  'TOKEN_SIGNATURE',
  'TOKEN_KEY_UNKNOWN',
  'TOKEN_KEY_REVOKED',
  'TOKEN_CLAIMS',
  'BATCH_INVALID',
  'BATCH_VERSION',
  'HARDWARE',
  'INTERNAL',
  'DB_LOCKER_MISMATCH',
  'STORE_NOT_FOUND',
  'STORE_STATE_CONFLICT',
] as const;
export type DeviceErrorCode = (typeof deviceErrorCodes)[number];

export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  constructor(
    readonly code: DeviceErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDeviceError(err: unknown, code?: DeviceErrorCode): err is DeviceError {
  return err instanceof DeviceError && (code === undefined || err.code === code);
}
