import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from '../logger.js';

// The sd_notify(3) client. systemd reads notifications as datagrams on the AF_UNIX socket
// named by NOTIFY_SOCKET; Node has no unix datagram sockets, and every npm package that adds
// them is a native build. So one long-lived `socat` child relays what we write to its stdin,
// one datagram per write (docs/decisions/0026). The pings still come only from our own event
// loop: a blocked loop writes nothing, so systemd sees nothing.

export interface Notifier {
  /** False outside systemd (no NOTIFY_SOCKET): notify() is then a no-op. */
  readonly enabled: boolean;
  /** Sends newline-separated assignments, e.g. "READY=1" or "STATUS=…". Never throws. */
  notify(state: string): void;
  /** Ends the relay. Safe to call twice. */
  close(): Promise<void>;
}

export type SpawnRelay = (command: string, args: readonly string[]) => ChildProcessWithoutNullStreams;

export interface NotifierOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Defaults to node's spawn; tests pass one that fails. */
  spawnRelay?: SpawnRelay;
  /** The relay binary; defaults to "socat" on PATH. */
  socatPath?: string;
}

/** socat's address for NOTIFY_SOCKET: '@name' is the abstract namespace, anything else a path. */
export function socatAddressFor(notifySocket: string): string {
  return notifySocket.startsWith('@') ? `ABSTRACT-SENDTO:${notifySocket.slice(1)}` : `UNIX-SENDTO:${notifySocket}`;
}

export function createNotifier(options: NotifierOptions): Notifier {
  const socket = options.env['NOTIFY_SOCKET'];
  if (socket === undefined || socket.length === 0) return disabledNotifier;
  return new SocatNotifier(socket, options);
}

const disabledNotifier: Notifier = {
  enabled: false,
  notify: () => undefined,
  close: () => Promise.resolve(),
};

class SocatNotifier implements Notifier {
  readonly enabled = true;
  private child: ChildProcessWithoutNullStreams | undefined;
  private closed = false;
  /** The relay binary cannot be run at all: stop spawning it every ping. */
  private unavailable = false;
  private readonly log: Logger;
  private readonly spawnRelay: SpawnRelay;

  constructor(
    private readonly socket: string,
    private readonly options: NotifierOptions,
  ) {
    this.log = options.logger.child({ component: 'sd-notify' });
    this.spawnRelay = options.spawnRelay ?? ((command, args) => spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  notify(state: string): void {
    if (this.closed || this.unavailable) return;
    const child = this.child ?? this.start();
    if (child === undefined) return;
    // One write per message keeps a message in one datagram; several queued writes may share
    // one, which systemd accepts because every assignment ends with a newline.
    child.stdin.write(state.endsWith('\n') ? state : `${state}\n`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.pid === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 1000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      // EOF on stdin: socat sends what it has read and exits.
      child.stdin.end();
    });
  }

  private start(): ChildProcessWithoutNullStreams | undefined {
    const command = this.options.socatPath ?? 'socat';
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.spawnRelay(command, ['-u', 'STDIN', socatAddressFor(this.socket)]);
    } catch (err) {
      this.log.error({ err, command }, 'sd-notify.relay-spawn-failed');
      return undefined;
    }
    child.on('error', (err) => {
      // ENOENT: socat is not installed. systemd will then time out the start (Type=notify).
      this.log.error({ err, command }, 'sd-notify.relay-failed');
      if (this.child === child) this.child = undefined;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.unavailable = true;
    });
    // Out of file descriptors (EMFILE, ENFILE), node returns a child without its pipes and
    // reports the error just after: nothing to write to, this ping is lost; the next one
    // tries again (a leak is what the watchdog is there to catch, not this ping).
    if (child.stdin == null || child.stderr == null) return undefined;
    this.child = child;
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-500)));
    child.stdin.on('error', (err) => this.log.error({ err }, 'sd-notify.relay-write-failed'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      // The next notify() starts a new relay; a ping lost meanwhile is repeated by the next tick.
      if (!this.closed) this.log.warn({ code, signal, stderr: stderr.trim() }, 'sd-notify.relay-exited');
    });
    // The relay must not keep the process alive on its own.
    child.unref();
    return child;
  }
}
