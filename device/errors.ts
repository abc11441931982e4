// One error class for the device side, with a code a caller can switch on. Messages are for
// operators; they never contain a code or a token.

export const deviceErrorCodes = [
  'CONFIG_INVALID',
  'DB_CORRUPT',
  'DB_UNREADABLE',
  'DB_DURABILITY',
  'DB_MIGRATION',
  /** A write failed for want of space or I/O (SQLITE_FULL, SQLITE_IOERR...): nothing changed, retry later. */
  'DB_WRITE_FAILED',
  /** A backup copy could not be written or failed its check (device/backup). */
  'BACKUP_FAILED',
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

function detailText(v: unknown): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return v.map(detailText).join('; ');
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

/**
 * One line an operator can act on: the code, the message, then every detail (the file's
 * path, each invalid field) and the underlying cause (ENOENT, EACCES…). Start-up failures
 * are printed with it, so none of them hides where to look.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // DeviceError, HalError and ContractError all carry a string code; anything else is INTERNAL.
  const code = (err as { code?: unknown }).code;
  const head = typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) ? `${code}: ${err.message}` : `INTERNAL: ${err.message}`;
  const withDetails = err as { details?: Readonly<Record<string, unknown>> };
  const details = withDetails.details !== undefined && typeof withDetails.details === 'object'
    ? Object.entries(withDetails.details)
        .map(([k, v]) => [k, detailText(v)] as const)
        .filter(([, v]) => v !== '' && !err.message.includes(v))
        .map(([k, v]) => `${k}: ${v}`)
    : [];
  const cause = err.cause instanceof Error ? err.cause.message : err.cause === undefined ? undefined : detailText(err.cause);
  return [head, ...details, ...(cause === undefined ? [] : [`cause: ${cause}`])].join(' | ');
}
