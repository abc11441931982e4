// The sync agent's own error type. It never leaves the agent (the error boundary in
// sync-agent.ts catches everything); the code is what logs and tests switch on.

export const syncErrorCodes = ['CONFIG_INVALID', 'NOT_CONNECTED', 'PUBLISH_FAILED', 'INTERNAL'] as const;
export type SyncErrorCode = (typeof syncErrorCodes)[number];

export class SyncError extends Error {
  override readonly name = 'SyncError';
  constructor(
    readonly code: SyncErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isSyncError(err: unknown, code?: SyncErrorCode): err is SyncError {
  return err instanceof SyncError && (code === undefined || err.code === code);
}
