import type { Logger } from 'pino';
import type { BeepPattern, Clock, DisplayMessage, Indicator } from '../types.js';
import { SerialConnection, type SerialPortOpener } from './serial-connection.js';

export interface SerialIndicatorOptions {
  path: string;
  baudRate: number;
  clock: Clock;
  maxTextLength?: number;
  openPort?: SerialPortOpener;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

/**
 * Makes text safe for the display controller's line protocol: printable ASCII only (a
 * newline would end the command early), whitespace runs collapsed, capped in length.
 */
export function sanitizeDisplayText(text: string, maxLength: number): string {
  const ascii = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/gu, '?')
    .trim();
  return ascii.length <= maxLength ? ascii : `${ascii.slice(0, Math.max(0, maxLength - 3))}...`;
}

export function formatMessageLine(message: DisplayMessage, maxLength: number): string {
  return `MSG ${message.tone} ${sanitizeDisplayText(message.text, maxLength)}\n`;
}

export function formatBeepLine(pattern: BeepPattern): string {
  return `BEEP ${pattern}\n`;
}

/**
 * The display/buzzer controller on a serial line (`MSG <tone> <text>`, `BEEP <pattern>`).
 * show() and beep() never throw: the locker must keep working with a dead display. The last
 * message is re-sent after a reconnect so the screen does not stay blank or stale.
 */
export class SerialIndicator implements Indicator {
  private readonly connection: SerialConnection;
  private readonly maxTextLength: number;
  private lastLine: string | undefined;

  constructor(private readonly options: SerialIndicatorOptions) {
    this.maxTextLength = options.maxTextLength ?? 64;
    this.connection = new SerialConnection({
      ...options,
      onData: () => undefined,
      onIoError: () => undefined,
      onOpen: () => {
        if (this.lastLine !== undefined) this.connection.write(this.lastLine);
      },
    });
  }

  start(): void {
    this.connection.start();
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }

  show(message: DisplayMessage): void {
    this.lastLine = formatMessageLine(message, this.maxTextLength);
    if (!this.connection.write(this.lastLine)) {
      this.options.logger?.warn({ tone: message.tone }, 'display.unavailable');
    }
  }

  beep(pattern: BeepPattern): void {
    if (!this.connection.write(formatBeepLine(pattern))) {
      this.options.logger?.warn({ pattern }, 'display.unavailable');
    }
  }
}
