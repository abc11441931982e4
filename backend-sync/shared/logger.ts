import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

// One pino logger per process, a child per component. Redaction is the second line of
// defence: code paths never log a keypad code or a token in the first place.
const redactPaths = ['code', 'token', 'pin', 'seed', '*.code', '*.token', '*.pin', '*.seed', 'req.headers.authorization'];

export interface LoggerOptions {
  level?: pino.LevelWithSilent;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'backend-sync',
      level: options.level ?? 'info',
      redact: { paths: redactPaths, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
