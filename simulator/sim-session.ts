/**
 * SimSession: the simulator's one in-process API. The technician console (repl.ts), the
 * scenario runner (scenarios/) and the web panel (panel/) all drive and watch the
 * simulated lockers through it, and only through it, so they always agree.
 *
 * Stable API (add to it; do not change what is here without updating every user):
 *
 *   SimSession.start(options): Promise<SimSession>   backend, broker and every locker up
 *   session.lockerIds(): string[]                    in config order
 *   session.resolveLockerId(ref): string | undefined  an id, or its 1-based number
 *   session.lockers(): LockerView[]                  every locker's state now
 *   session.locker(lockerId): LockerView             one locker (throws UnknownLockerError)
 *   session.subscribe(listener, lockerId?): () => void
 *                                                    live SessionEvents (session-events.ts),
 *                                                    of one locker or all; returns unsubscribe
 *   session.history(lockerId): SessionEvent[]        the last 500 events of a locker
 *   session.describe(event): EventText | undefined   the words for an event (event-format.ts),
 *                                                    the same the console prints
 *   session.run(lockerId, commandLine): Promise<string[]>
 *                                                    one console command (commands.ts, 'help'
 *                                                    lists them) on that locker; resolves with
 *                                                    the lines it printed. Never throws for a
 *                                                    bad line: the error is a line. Commands on
 *                                                    one locker run one at a time, in order.
 *   session.notices(lockerId): ReceivedNotice[]      what customers received there (codes and
 *                                                    QR tokens: a simulator shows them)
 *   session.customerNotifications(): CustomerNotification[]
 *                                                    what the embedded backend sent to customers
 *                                                    (kind, order, shipment, and the code and QR
 *                                                    token it carried), oldest first; empty for an
 *                                                    external backend or offline
 *   session.backend(): BackendApi | undefined        { url, apiKey, external } of the backend API
 *   session.brokerUrl: string | undefined
 *   session.dataDir: string
 *   session.panelUrl / session.setPanelUrl(url)      the web panel registers its URL here; it
 *                                                    is then printed with the others (urlLines)
 *   session.urlLines(): string[]                     'panel: …', 'backend API: …', 'API key: …'
 *   session.advanceTime(ms): Promise<void>           time passes for every locker and the
 *                                                    embedded backend ('clock forward')
 *   session.poll(): void                             read every locker's store now (events of
 *                                                    what just happened come out at once)
 *   session.node(lockerId): LockerNode               the demo's and tests' handle on one locker
 *                                                    (simulated hardware, store, stack); not for
 *                                                    the panel, which stays on the calls above
 *   session.close(): Promise<void>                   network side first, then every locker
 *
 * Everything a command can do (keys, scans, faults, clock, network, power cut, parcels,
 * expiry, retrieval, returns, remote and service opens) is reachable through run(); state
 * changes arrive as events and are visible in lockers().
 */
import type { LogChannel } from '@locker/backend/notifications/log-channel.js';
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { SimFault } from '@locker/hal/sim/compartment-model.js';
import type { DisplayMessage, DoorState } from '@locker/hal/types.js';
import { executeCommand } from './command-executor.js';
import { parseCommand } from './commands.js';
import { dataDirPaths, lockerPaths } from './data-dir.js';
import { describeEvent, type EventText } from './event-format.js';
import type { LockerPower } from './locker-sim.js';
import { LockerNode } from './locker-node.js';
import type { ReceivedNotice } from './parcel-desk.js';
import { SessionEventBus, type SessionEvent } from './session-events.js';
import { SessionTime } from './session-time.js';
import type { SimSessionConfig } from './sim-config.js';
import { startSimNetwork, type BackendApi, type SimNetwork } from './sim-network.js';
import { UnknownLockerError } from './unknown-locker-error.js';

export type { SessionEvent } from './session-events.js';
export type { BackendApi } from './sim-network.js';
export type { EventText } from './event-format.js';
export type { ReceivedNotice } from './parcel-desk.js';

export interface CompartmentView {
  id: string;
  size: 'S' | 'M' | 'L' | 'XL';
  door: DoorState;
  /** The lock relay is energised right now. */
  relayOn: boolean;
  latch: 'latched' | 'released' | 'open';
  occupied: boolean;
  outOfService: boolean;
  outOfServiceReason?: string;
  parcelId?: string;
  /** Hardware faults injected by the technician. */
  faults: SimFault[];
}

export interface LockerView {
  id: string;
  name: string;
  location: { street: string; city: string; postalCode: string; country: string; lat: number; lng: number };
  power: LockerPower;
  /** MQTT session up; undefined for an offline locker (no network at all). */
  online: boolean | undefined;
  /** The network cable; undefined for an offline locker. */
  networkUp: boolean | undefined;
  codeSetVersion: number;
  /** Audit records written but not yet acknowledged by the backend. */
  outboxBacklog: number;
  lockout: { active: boolean; until?: number; failures: number } | undefined;
  /** What the display shows now. */
  display: DisplayMessage | undefined;
  clock: { wallMs: number; wallSkewMs: number; sessionOffsetMs: number; deviceMs: number | undefined };
  compartments: CompartmentView[];
}

/** What a person or the technician can still do to a locker whose device process is dead. */
const worksWithoutPower: ReadonlySet<string> = new Set([
  'keys', 'scan', 'open', 'close', 'fault', 'clear-fault', 'auto-open', 'auto-close', 'noise', 'flood', 'network', 'clock', 'lockers', 'help', 'wait', 'use',
]);

/** One notification the embedded backend sent (to the simulated customer). Secrets shown on purpose. */
export interface CustomerNotification {
  id: string;
  kind: string;
  createdAt: number;
  /** The customer's name, email or phone, as the order gave them. */
  recipient: string;
  orderId?: string;
  shipmentId?: string;
  lockerId?: string;
  /** The keypad code (pickup or drop-off), when the notification carries one. */
  code?: string;
  /** The pickup token to show as a QR code, when the notification carries one. */
  qrToken?: string;
}

export { UnknownLockerError };

export interface SimSessionOptions {
  config: SimSessionConfig;
  /** The session's data dir: backend files at its root, each locker under lockers/<id>/. */
  dataDir: string;
  logger: Logger;
  /** false: offline lockers (no broker, backend or agents). */
  sync: boolean;
  /** Progress lines while starting. */
  say: (line: string) => void;
}

export class SimSession {
  private readonly bus = new SessionEventBus();
  private readonly queues = new Map<string, Promise<unknown>>();
  private panel: string | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly dataDir: string,
    private readonly time: SessionTime,
    private readonly network: SimNetwork,
    private readonly nodes: Map<string, LockerNode>,
    /** Lockers whose database existed before this start. */
    readonly resumed: ReadonlySet<string>,
  ) {}

  static async start(options: SimSessionOptions): Promise<SimSession> {
    const { config, logger, say } = options;
    const time = new SessionTime();
    const root = dataDirPaths(options.dataDir);
    const network = await startSimNetwork({ sync: options.sync, external: config.external, paths: root, logLevel: config.lockers[0]?.logLevel ?? 'info', logger, say, time });
    const nodes = new Map<string, LockerNode>();
    const resumed = new Set<string>();
    let session: SimSession | undefined;
    const emit = (event: SessionEvent): void => session?.bus.emit(event);
    try {
      for (const locker of config.lockers) {
        const paths = lockerPaths(options.dataDir, locker.lockerId);
        if (existsSync(paths.database)) resumed.add(locker.lockerId);
        nodes.set(locker.lockerId, await LockerNode.open({ config: locker, paths, time, network, sync: options.sync, logger, say, emit }));
      }
      session = new SimSession(root.root, time, network, nodes, resumed);
      for (const node of nodes.values()) await node.start();
      return session;
    } catch (err) {
      for (const node of nodes.values()) await node.stop().catch(() => undefined);
      await network.stop();
      time.close();
      throw err;
    }
  }

  lockerIds(): string[] {
    return [...this.nodes.keys()];
  }

  /** A locker id, or its number in lockerIds() (1-based); undefined when neither. */
  resolveLockerId(ref: string): string | undefined {
    if (this.nodes.has(ref)) return ref;
    const n = /^\d+$/.test(ref) ? Number(ref) : NaN;
    return this.lockerIds()[n - 1];
  }

  lockers(): LockerView[] {
    return this.lockerIds().map((id) => this.locker(id));
  }

  locker(lockerId: string): LockerView {
    const node = this.requireNode(lockerId);
    const { sim, stack, config, clock } = node;
    const running = sim.running;
    // While the power is off the store is closed: show what it held when the power went.
    const rows = running ? sim.store.listCompartments() : node.rowsAtPowerCut;
    const byId = new Map(rows.map((r) => [r.id, r]));
    const health = running ? stack.view.lockout() : undefined;
    const shown = sim.control.indicator.history().filter((e) => e.type === 'message').at(-1);
    return {
      id: config.lockerId,
      name: config.site.name ?? config.lockerId,
      location: { street: config.site.street, city: config.site.city, postalCode: config.site.postalCode, country: config.site.country, lat: config.site.lat, lng: config.site.lng },
      power: sim.power,
      online: stack.link === undefined ? undefined : (stack.view.sync()?.connected ?? false),
      networkUp: node.networkUp,
      codeSetVersion: running ? sim.store.codeSetState().version : 0,
      outboxBacklog: running ? sim.store.auditHighWatermark() - sim.store.auditAckedWatermark() : 0,
      lockout: health,
      display: shown?.type === 'message' ? { ...shown.message } : undefined,
      clock: { wallMs: clock.now(), wallSkewMs: clock.wallSkew, sessionOffsetMs: this.time.offsetMs, deviceMs: running ? sim.runtime.trustedNow?.() : undefined },
      compartments: config.compartments.map((c) => {
        const row = byId.get(c.id);
        const open = sim.control.doorIsOpen(c.id);
        return {
          id: c.id,
          size: c.size,
          door: sim.hardware.doors.read(c.id),
          relayOn: sim.control.energised(c.id),
          latch: open ? 'open' : sim.control.latched(c.id) ? 'latched' : 'released',
          occupied: row?.status === 'occupied',
          outOfService: row?.status === 'out-of-service',
          ...(row?.outOfServiceReason === undefined ? {} : { outOfServiceReason: row.outOfServiceReason }),
          ...(row?.parcelId === undefined ? {} : { parcelId: row.parcelId }),
          faults: [...sim.control.faults(c.id)],
        };
      }),
    };
  }

  subscribe(listener: (event: SessionEvent) => void, lockerId?: string): () => void {
    if (lockerId !== undefined) this.requireNode(lockerId);
    return this.bus.on(listener, lockerId);
  }

  history(lockerId: string): SessionEvent[] {
    this.requireNode(lockerId);
    return [...this.bus.history(lockerId)];
  }

  describe(event: SessionEvent): EventText | undefined {
    return describeEvent(event);
  }

  /** Runs one console command on a locker; resolves with what it printed. */
  run(lockerId: string, commandLine: string): Promise<string[]> {
    const node = this.requireNode(lockerId);
    const previous = this.queues.get(lockerId) ?? Promise.resolve();
    const task = previous.catch(() => undefined).then(() => this.execute(node, commandLine));
    this.queues.set(lockerId, task);
    return task;
  }

  notices(lockerId: string): ReceivedNotice[] {
    return [...(this.requireNode(lockerId).deskIfOpen()?.received() ?? [])];
  }

  customerNotifications(): CustomerNotification[] {
    const sent = this.network.backend?.inbox.sent ?? [];
    const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
    return sent.map((n) => {
      const notification: CustomerNotification = {
        id: n.id, kind: n.kind, createdAt: n.createdAt, recipient: n.recipient.email ?? n.recipient.phone ?? n.recipient.name,
      };
      const fields = { orderId: 'orderId', shipmentId: 'shipmentId', lockerId: 'lockerId', code: 'code', qrToken: 'token' } as const;
      for (const [field, key] of Object.entries(fields) as [keyof typeof fields, string][]) {
        const value = text(n.payload[key]);
        if (value !== undefined) notification[field] = value;
      }
      return notification;
    });
  }

  /** The embedded backend's keeping notification channel (what customers were sent); undefined with an external backend. */
  customerInbox(): LogChannel | undefined {
    return this.network.backend?.inbox;
  }

  backend(): BackendApi | undefined {
    return this.network.api;
  }

  get brokerUrl(): string | undefined {
    return this.network.brokerUrl;
  }

  get panelUrl(): string | undefined {
    return this.panel;
  }

  /** The web panel registers where it listens; printed with the other URLs from then on. */
  setPanelUrl(url: string | undefined): void {
    this.panel = url;
  }

  urlLines(): string[] {
    const lines: string[] = [];
    if (this.panel !== undefined) lines.push(`panel: ${this.panel}`);
    const api = this.network.api;
    if (api !== undefined) {
      lines.push(`backend API: ${api.url}${api.external ? ' (external)' : ''}`);
      lines.push(`API key (this session; roles merchant, carrier, admin): ${api.apiKey}`);
      lines.push(`  e.g. curl -H 'authorization: Bearer ${api.apiKey}' ${api.url}/lockers`);
    }
    if (this.network.brokerUrl !== undefined) lines.push(`MQTT broker: ${this.network.brokerUrl}`);
    return lines;
  }

  /** For the demo and tests: the locker's node (simulated hardware, store, stack). */
  node(lockerId: string): LockerNode {
    return this.requireNode(lockerId);
  }

  /** Time passes for every locker and the backend (what `clock forward` does). */
  advanceTime(ms: number): Promise<void> {
    return this.time.advance(ms);
  }

  /** Reads every locker's store and runtime now, so the events of what just happened are out. */
  poll(): void {
    for (const node of this.nodes.values()) node.poll();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Network side first (as device/main.ts does), then the lockers: relays off, stores closed.
      for (const node of this.nodes.values()) await node.stopNetworkSide();
      await this.network.stop();
      for (const node of this.nodes.values()) await node.stop();
      this.time.close();
    })();
    return this.closing;
  }

  private lockerLines(): string[] {
    return this.lockers().map((l, i) => {
      const net = l.networkUp === undefined ? 'offline locker' : l.networkUp ? (l.online === true ? 'online' : 'connecting') : 'network cable pulled';
      return `${String(i + 1)}. ${l.id}  ${l.name}, ${l.location.city}  power ${l.power}, ${net}, ${String(l.compartments.length)} compartments, code set v${String(l.codeSetVersion)}`;
    });
  }

  private async execute(node: LockerNode, line: string): Promise<string[]> {
    const parsed = parseCommand(line);
    if (!parsed.ok) return [`error: ${parsed.error}`];
    const command = parsed.command;
    if (command === undefined) return [];
    if (command.name === 'quit') return ["'quit' stops the console, not a locker"];
    if (node.sim.power === 'off' && !worksWithoutPower.has(command.name)) {
      return [`error: ${node.lockerId} has no power (a power cut is in progress); its hardware still takes keys, scans, doors and faults`];
    }
    return node.collect(async (print) => {
      try {
        const desk = await node.desk();
        await executeCommand(command, { sim: node.sim, print, view: node.stack.view, desk, node, session: { lockerLines: () => this.lockerLines() } });
      } catch (err) {
        print(`error: ${err instanceof Error ? err.message : String(err)}`);
      }
      node.poll();
    });
  }

  private requireNode(lockerId: string): LockerNode {
    const node = this.nodes.get(lockerId);
    if (node === undefined) throw new UnknownLockerError(`no locker ${lockerId} in this session (${this.lockerIds().join(', ')})`);
    return node;
  }
}
