import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { decodeV4Public } from '@locker/contract/tokens/paseto-v4-public.js';
import { readCodePepper } from '@locker/device/config.js';
import type { CompartmentRow } from '@locker/device/store/runtime-store.js';
import type { DataDirPaths } from './data-dir.js';
import { unusedCode } from './demo-issuer.js';
import type { DemoParcelSource } from './demo-scenario.js';
import { openLockerSim, type LockerSim } from './locker-sim.js';
import { LockerWatch } from './locker-watch.js';
import { ParcelDesk } from './parcel-desk.js';
import { fromHardware, type SessionEvent, type SessionEventBody } from './session-events.js';
import type { SessionTime, SimClock } from './session-time.js';
import type { SimLockerConfig } from './sim-config.js';
import type { SimNetwork } from './sim-network.js';
import { createSimStack, type SimStack } from './sim-stack.js';

// One locker of a session with everything a technician can do to it beyond pressing keys:
// its clock, its network cable, its power, and the backend's view of its parcels. The
// session (sim-session.ts) holds one per locker; the console and the panel reach it only
// through the session.

export interface LockerNodeOptions {
  config: SimLockerConfig;
  paths: DataDirPaths;
  time: SessionTime;
  network: SimNetwork;
  sync: boolean;
  logger: Logger;
  say: (line: string) => void;
  emit: (event: SessionEvent) => void;
}

export class LockerNode {
  private watch: LockerWatch | undefined;
  private unsubscribeHardware: (() => void) | undefined;
  /** Lines a command is printing right now (run() collects them); undefined between commands. */
  private capture: string[] | undefined;
  private deskInstance: ParcelDesk | undefined;
  private source: DemoParcelSource | undefined;
  private powerTimer: NodeJS.Timeout | undefined;
  private rowsAtCut: CompartmentRow[] = [];

  private constructor(
    readonly config: SimLockerConfig,
    readonly sim: LockerSim,
    readonly stack: SimStack,
    readonly clock: SimClock,
    private readonly time: SessionTime,
    private readonly emit: (event: SessionEvent) => void,
  ) {}

  static async open(options: LockerNodeOptions): Promise<LockerNode> {
    const { config, paths, logger } = options;
    const stack = await createSimStack({ config, paths, logger, sync: options.sync, say: options.say, network: options.network, backendNow: () => options.time.wallNow() });
    const clock = options.time.clock();
    let sim: LockerSim;
    try {
      sim = await openLockerSim({ config, dataDir: paths.root, paths, logger, clock, createRuntime: stack.createRuntime });
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return new LockerNode(config, sim, stack, clock, options.time, options.emit);
  }

  get lockerId(): string {
    return this.config.lockerId;
  }

  async start(): Promise<void> {
    this.unsubscribeHardware = this.sim.events.on((event) => {
      // What the device committed before this hardware event is announced before it (a jam
      // alarm before the re-slot's pulse). Inside an open transaction nothing is read: its
      // rows may still roll back; the next read after it commits picks them up.
      if (this.sim.running && !this.sim.store.database.inTransaction) this.watch?.poll();
      else queueMicrotask(() => this.watch?.poll());
      this.emit(fromHardware(this.lockerId, event));
    });
    await this.sim.start();
    await this.stack.afterStart(this.sim);
    this.watch = new LockerWatch(this.sim, this.stack.view, this.emit);
    this.watch.start();
  }

  /** The compartments as the store held them when the power went (the store is closed meanwhile). */
  get rowsAtPowerCut(): readonly CompartmentRow[] {
    return this.rowsAtCut;
  }

  /** Reads the store and runtime now, so events caused by a command come before its result. */
  poll(): void {
    this.watch?.poll();
  }

  /** The backend side (real backend over HTTP, or the in-process issuer offline). */
  async parcelSource(): Promise<DemoParcelSource> {
    this.source ??= await this.stack.demoSource(this.sim);
    return this.source;
  }

  /** The parcel desk of this locker: parcels, courier credentials, what customers received. */
  async desk(): Promise<ParcelDesk> {
    // Without a parcel source (an external backend) the desk still serves retrieval,
    // returns, remote and service opens; only 'parcel' says why it cannot.
    const source = await this.parcelSource().catch((err: unknown): DemoParcelSource => {
      const fail = (): Promise<never> => Promise.reject(err instanceof Error ? err : new Error(String(err)));
      return { description: 'none', prepare: fail, customerNotice: fail };
    });
    this.deskInstance ??= new ParcelDesk(this.sim, source, (line) => this.print(line), {
      api: this.stack.api,
      issuer: () => {
        const issuer = this.stack.issuer(this.sim);
        if (issuer === undefined) throw new Error('service credentials need the backend signing key (embedded backend or --offline)');
        return issuer;
      },
    });
    return this.deskInstance;
  }

  /** Puts an event on this locker's stream (a fault the technician injected, time that passed). */
  announce(body: SessionEventBody): void {
    this.emit({ ...body, lockerId: this.lockerId, at: this.clock.now() });
  }

  /** The desk if one was opened (no parcel source is made just to answer a question). */
  deskIfOpen(): ParcelDesk | undefined {
    return this.deskInstance;
  }

  /** A line for a person: into the running command's output, else onto the event stream. */
  print(line: string): void {
    if (this.capture !== undefined) this.capture.push(line);
    else this.emit({ lockerId: this.lockerId, at: this.clock.now(), type: 'notice', text: line.trim() });
  }

  /** Runs `body` with print() collecting into the returned lines. */
  async collect(body: (print: (line: string) => void) => Promise<void>): Promise<string[]> {
    const lines: string[] = [];
    const previous = this.capture;
    this.capture = lines;
    try {
      await body((line) => lines.push(line));
    } finally {
      this.capture = previous;
    }
    return lines;
  }

  // --- what a technician does to the locker ----------------------------------------------

  /** Cuts the power (after `afterMs` real ms), and restores it after `offMs`. */
  powerCut(afterMs: number, offMs: number): Promise<string> {
    const cut = async (): Promise<void> => {
      if (!this.sim.running) return;
      // Last reads of the living process: its events, and its compartments for the view.
      this.watch?.poll();
      this.rowsAtCut = this.sim.store.listCompartments();
      await this.stack.powerCut(this.sim);
      this.watch?.forgetConnection();
      const at = this.clock.now();
      this.emit({ lockerId: this.lockerId, at, type: 'power', state: 'off' });
      if (this.stack.link !== undefined) this.emit({ lockerId: this.lockerId, at, type: 'online', online: false });
      await sleep(offMs);
      await this.sim.powerOn();
      this.emit({ lockerId: this.lockerId, at: this.clock.now(), type: 'power', state: 'on' });
      await this.stack.afterStart(this.sim);
      this.watch?.poll();
    };
    if (afterMs <= 0) return cut().then(() => `power cut and restored after ${String(offMs)} ms`);
    if (this.powerTimer !== undefined) return Promise.resolve('a power cut is already scheduled');
    this.powerTimer = setTimeout(() => {
      this.powerTimer = undefined;
      cut().catch((err: unknown) => this.print(`power cut failed: ${err instanceof Error ? err.message : String(err)}`));
    }, afterMs);
    return Promise.resolve(`power cut scheduled in ${String(afterMs)} ms (off for ${String(offMs)} ms)`);
  }

  /** Pulls or plugs the network cable. */
  setNetwork(up: boolean): string {
    const link = this.stack.link;
    if (link === undefined) return 'this locker is offline (started with --offline): it has no network to cut';
    if (up === link.up) return `the network is already ${up ? 'up' : 'down'}`;
    if (up) link.restore();
    else link.down();
    this.emit({ lockerId: this.lockerId, at: this.clock.now(), type: 'network', state: up ? 'up' : 'down' });
    return up ? 'network cable plugged back in' : 'network cable pulled';
  }

  get networkUp(): boolean | undefined {
    return this.stack.link?.up;
  }

  /** The locker's own wall clock jumps (an RTC or NTP fault); device time must not follow. */
  jumpWall(ms: number): void {
    this.clock.jumpWall(ms);
    this.emit({ lockerId: this.lockerId, at: this.clock.now(), type: 'clock', wallMs: this.clock.now(), wallSkewMs: ms });
  }

  /**
   * How far time must pass for every parcel in this locker to be past its pickup window
   * and the device's expiry grace, so its sweep flags them for return; undefined when no
   * parcel waits here.
   */
  expiryAdvanceMs(): number | undefined {
    const { store } = this.sim;
    const timeouts = this.stack.deviceConfig.timeouts;
    let latest: number | undefined;
    for (const c of store.listCompartments()) {
      if (c.status !== 'occupied') continue;
      for (const entry of store.findEntriesInCompartment(c.id)) {
        if (entry.state !== 'live') continue;
        const exp = tokenExpiry(entry.token);
        if (exp !== undefined) latest = Math.max(latest ?? 0, exp);
      }
    }
    if (latest === undefined) return undefined;
    const now = this.sim.runtime.trustedNow?.() ?? this.clock.now();
    return Math.max(0, latest - now) + timeouts.expiryGraceMs + timeouts.expirySweepMs + 60_000;
  }

  /** `n` codes that open nothing here (their digests are not live): what a guessing person types. */
  wrongCodes(n: number): string[] {
    const pepper = readCodePepper(this.sim.paths.codePepper);
    const codes: string[] = [];
    for (let i = 0; i < n; i++) {
      codes.push(unusedCode(pepper, this.lockerId, this.stack.deviceConfig.codeLength, (digest) => this.sim.store.findEntryByCodeDigest(digest) !== undefined));
    }
    return codes;
  }

  /** The agent and cable go first, so no remote open can start while the relays go off. */
  async stopNetworkSide(): Promise<void> {
    if (this.powerTimer !== undefined) clearTimeout(this.powerTimer);
    this.powerTimer = undefined;
    this.watch?.stop();
    this.deskInstance?.close();
    await this.stack.stop();
  }

  async stop(): Promise<void> {
    await this.stopNetworkSide();
    await this.sim.stop();
    this.unsubscribeHardware?.();
  }

  /** Session time, for actions that need it. */
  get sessionTime(): SessionTime {
    return this.time;
  }
}

/** A token's `exp` claim, read without verifying (only to know how far to move time). */
function tokenExpiry(token: string): number | undefined {
  try {
    const claims = JSON.parse(Buffer.from(decodeV4Public(token).message).toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'string' ? Date.parse(claims.exp) : undefined;
  } catch {
    return undefined;
  }
}
