// The wire contract's own error: the token format, key text and Ed25519 adapters are shared
// by the device and the backend, so they cannot throw either side's error class. The codes
// keep the names the device used before the contract became its own package, so callers
// that switch on `code` read the same values.

export const contractErrorCodes = ['CONFIG_INVALID', 'INTERNAL', 'TOKEN_CLAIMS', 'TOKEN_MALFORMED', 'TOKEN_SIGNATURE'] as const;
export type ContractErrorCode = (typeof contractErrorCodes)[number];

export class ContractError extends Error {
  override readonly name = 'ContractError';
  constructor(
    readonly code: ContractErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isContractError(err: unknown, code?: ContractErrorCode): err is ContractError {
  return err instanceof ContractError && (code === undefined || err.code === code);
}
