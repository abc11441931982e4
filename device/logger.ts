import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: pino.LevelWithSilent;
  /** Defaults to stdout, written synchronously so the last lines survive a power cut. */
  destination?: DestinationStream;
  name?: string;
}

// Redaction is a second line of defence: code paths must not log codes or tokens at all.
const redactPaths = ['code', 'token', 'pin', '*.code', '*.token', '*.pin', 'payload.token'];

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      name: options.name ?? 'locker',
      level: options.level ?? 'info',
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination,
  );
}

/** A logger that discards everything, for tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
