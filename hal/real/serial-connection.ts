import type { Logger } from 'pino';
import { SerialPort } from 'serialport';
import { HalError } from '../hal-error.js';
import { hangupAwareBinding } from './hangup-aware-binding.js';
import type { Clock, TimerHandle } from '../types.js';

/** The slice of a serialport stream we use; SerialPort and SerialPortMock both fit. */
export interface SerialPortLike {
  readonly isOpen: boolean;
  open(callback: (error: Error | null) => void): void;
  close(callback?: (error: Error | null) => void): void;
  write(data: string | Buffer, callback?: (error: Error | null | undefined) => void): boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** serialport passes the cause of a close it did not ask for (a DisconnectedError). */
  on(event: 'close', listener: (error?: Error | null) => void): unknown;
  removeAllListeners(): unknown;
}

/** Creates a not-yet-opened port. Tests return a SerialPortMock or a port on a PTY. */
export type SerialPortOpener = (options: { path: string; baudRate: number }) => SerialPortLike;

/** Built once: the system binding, except that a hung-up line (USB unplugged) is an error (hangup-aware-binding.ts). */
let binding: typeof SerialPort.binding | undefined;

export const openSystemSerialPort: SerialPortOpener = ({ path, baudRate }) => {
  // SerialPort hands `binding` on to its stream (serialport.js spreads the options over its
  // default); its option type only leaves it out, so the options are not an object literal here.
  const options = { path, baudRate, autoOpen: false, binding: (binding ??= hangupAwareBinding()) };
  return new SerialPort(options);
};

export interface SerialConnectionOptions {
  path: string;
  baudRate: number;
  clock: Clock;
  openPort?: SerialPortOpener;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
  onData: (chunk: Buffer) => void;
  /** An open failure, a port error or an unexpected close. Never thrown. */
  onIoError: (error: HalError) => void;
  /** Called after every successful (re)open. */
  onOpen?: () => void;
}

/**
 * A serial port that stays connected: if it fails to open, errors or closes (a USB
 * scanner unplugged, a controller rebooting) it reopens with exponential backoff on the
 * injected clock. Errors go to onIoError and the log; nothing is thrown to the caller.
 */
export class SerialConnection {
  private port: SerialPortLike | undefined;
  private retryTimer: TimerHandle | undefined;
  private backoffMs: number;
  private stopped = true;

  constructor(private readonly options: SerialConnectionOptions) {
    this.backoffMs = options.initialBackoffMs ?? 500;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Writes if connected; returns false (and drops the data) otherwise. */
  write(data: string): boolean {
    const port = this.port;
    if (port?.isOpen !== true) return false;
    port.write(data, (error) => {
      if (error) this.fail('write', error);
    });
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const port = this.port;
    this.port = undefined;
    if (port === undefined) return;
    port.removeAllListeners();
    port.on('error', () => undefined);
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private connect(): void {
    const { path, baudRate, logger } = this.options;
    let port: SerialPortLike;
    try {
      port = (this.options.openPort ?? openSystemSerialPort)({ path, baudRate });
    } catch (error) {
      this.fail('open', error);
      this.scheduleReconnect();
      return;
    }
    this.port = port;
    port.on('data', (chunk) => this.options.onData(chunk));
    port.on('error', (error) => this.fail('io', error));
    port.on('close', (error) => {
      if (this.stopped || this.port !== port) return;
      this.fail('closed', error ?? new Error('port closed'));
      this.drop(port);
      this.scheduleReconnect();
    });
    port.open((error) => {
      if (this.stopped || this.port !== port) {
        // stop() ran while the open was in flight: do not leak the now-open port.
        if (!error && port.isOpen) port.close();
        return;
      }
      if (error) {
        this.fail('open', error);
        this.drop(port);
        this.scheduleReconnect();
        return;
      }
      this.backoffMs = this.options.initialBackoffMs ?? 500;
      logger?.info({ path }, 'serial.opened');
      this.options.onOpen?.();
    });
  }

  private drop(port: SerialPortLike): void {
    if (this.port === port) this.port = undefined;
    port.removeAllListeners();
    port.on('error', () => undefined);
    if (port.isOpen) port.close();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
    this.options.logger?.info({ path: this.options.path, delayMs: delay }, 'serial.reconnect_scheduled');
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) this.connect();
    }, delay);
  }

  private fail(stage: 'open' | 'io' | 'write' | 'closed', error: unknown): void {
    const { path, logger } = this.options;
    const message = error instanceof Error ? error.message : String(error);
    logger?.warn({ path, stage, err: message }, 'serial.error');
    this.options.onIoError(new HalError('SERIAL_OPEN_FAILED', `${path}: ${stage}: ${message}`, { cause: error }));
  }
}
