import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../shared/logger.js';

/** A real pino logger at info whose lines are kept, parsed, for a test to assert on. */
export function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}
