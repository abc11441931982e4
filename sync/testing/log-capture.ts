import { pino, type Logger } from 'pino';

// A real pino logger whose lines are kept in memory, so tests can assert that every
// rejection was logged with its reason (and that no code or token ever was).

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface LogCapture {
  logger: Logger;
  lines: LogLine[];
  /** Lines whose msg equals `msg`. */
  find(msg: string): LogLine[];
  /** Raw text of everything logged. */
  text(): string;
}

export function captureLogs(level: pino.LevelWithSilent = 'debug'): LogCapture {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const logger = pino({ level, base: null }, {
    write(s: string) {
      raw.push(s);
      lines.push(JSON.parse(s) as LogLine);
    },
  });
  return { logger, lines, find: (msg) => lines.filter((l) => l.msg === msg), text: () => raw.join('') };
}
