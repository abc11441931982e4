// One class for "no such locker in this session", thrown by the session and by any panel
// port: the panel answers 404 UNKNOWN_LOCKER by `instanceof`, so a second class of the same
// name (the session once had its own) turned a mistyped locker id into a 500.

export class UnknownLockerError extends Error {
  override readonly name = 'UnknownLockerError';
  readonly code = 'UNKNOWN_LOCKER';
}
