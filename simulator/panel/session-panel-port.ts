import type { Logger } from 'pino';
import { createBackendClient, type NotificationInbox } from './backend-client.js';
import type { EventWords, PanelEvent, PanelEventBody, SimFaultName } from './panel-events.js';
import type { LockerView, PanelPort, Unsubscribe } from './panel-port.js';
import { startPanelServer, type PanelServer } from './panel-server.js';

// The panel on a simulator session: SimSession (simulator/sim-session.ts) adapted onto the
// PanelPort. The session's shape is written out here structurally (what the panel reads of
// it, as its file header documents it), so this file compiles without the session and the
// compiler checks the real one against it where main.ts passes it in.

type DoorState = 'open' | 'closed' | 'unknown';

/** SimSession's per-locker view, as far as the panel reads it. */
export interface SessionLockerView {
  id: string;
  name: string;
  location: { street: string; city: string };
  power: string;
  online: boolean | undefined;
  networkUp: boolean | undefined;
  codeSetVersion: number;
  outboxBacklog: number;
  lockout: { active: boolean; until?: number; failures: number } | undefined;
  display: { tone: 'idle' | 'prompt' | 'progress' | 'success' | 'error' | 'alarm'; text: string; compartmentId?: string } | undefined;
  clock: { wallMs: number };
  compartments: Array<{
    id: string;
    size: 'S' | 'M' | 'L' | 'XL';
    door: DoorState;
    relayOn: boolean;
    occupied: boolean;
    outOfService: boolean;
    outOfServiceReason?: string;
    parcelId?: string;
    faults: SimFaultName[];
  }>;
}

type SessionEvent = PanelEventBody & { lockerId: string; at: number };

/** What the panel needs of a SimSession. */
export interface SimSessionLike {
  lockerIds(): string[];
  lockers(): SessionLockerView[];
  subscribe(listener: (event: SessionEvent) => void, lockerId?: string): () => void;
  history(lockerId: string): SessionEvent[];
  describe(event: SessionEvent): EventWords | undefined;
  run(lockerId: string, commandLine: string): Promise<string[]>;
  backend(): { url: string; apiKey: string } | undefined;
  setPanelUrl(url: string | undefined): void;
  /**
   * What the embedded backend sent to customers (its keeping notification channel,
   * EmbeddedBackend.inbox); undefined with an external backend.
   */
  customerInbox?(): NotificationInbox | undefined;
}

export function lockerViewOf(view: SessionLockerView): LockerView {
  return {
    id: view.id,
    name: view.name,
    location: `${view.location.city}, ${view.location.street}`,
    powered: view.power === 'running',
    ...(view.online === undefined ? {} : { online: view.online }),
    ...(view.networkUp === undefined ? {} : { networkUp: view.networkUp }),
    codeSetVersion: view.codeSetVersion,
    outboxBacklog: Math.max(0, view.outboxBacklog),
    lockout: view.lockout ?? { active: false, failures: 0 },
    ...(view.display === undefined ? {} : { display: view.display }),
    clock: view.clock.wallMs,
    compartments: view.compartments.map((c) => ({
      id: c.id,
      size: c.size,
      door: c.door,
      relay: c.relayOn,
      status: c.outOfService ? 'out-of-service' : c.occupied ? 'occupied' : 'free',
      ...(c.parcelId === undefined ? {} : { parcelId: c.parcelId }),
      ...(c.outOfServiceReason === undefined ? {} : { outOfServiceReason: c.outOfServiceReason }),
      faults: [...c.faults],
    })),
  };
}

export interface SessionPortOptions {
  /**
   * The customer's inbox, when the session does not offer customerInbox(): the embedded
   * backend's notification channel that keeps what it sent (EmbeddedBackend.inbox).
   * Without either (an external backend) the panel shows no codes.
   */
  inbox?: NotificationInbox;
}

export function sessionPanelPort(session: SimSessionLike, options: SessionPortOptions = {}): PanelPort {
  const withWords = (event: SessionEvent): PanelEvent => {
    const words = session.describe(event);
    return words === undefined ? event : { ...event, words };
  };
  const api = session.backend();
  const inbox = options.inbox ?? session.customerInbox?.();
  return {
    lockers: () => Promise.resolve(session.lockers().map(lockerViewOf)),
    subscribe: (listener, lockerId): Unsubscribe => session.subscribe((event) => listener(withWords(event)), lockerId),
    history: (lockerId) => {
      const ids = lockerId === undefined ? session.lockerIds() : [lockerId];
      return ids.flatMap((id) => session.history(id)).sort((a, b) => a.at - b.at).map(withWords);
    },
    run: (lockerId, line) => session.run(lockerId, line),
    backend: api === undefined ? undefined : createBackendClient({ url: api.url, apiKey: api.apiKey, ...(inbox === undefined ? {} : { inbox }) }),
  };
}

/** Starts the panel on a session and registers its URL there (printed with the others). */
export async function startSessionPanel(session: SimSessionLike, logger: Logger, options: SessionPortOptions & { listenPort?: number } = {}): Promise<PanelServer> {
  const server = await startPanelServer({ port: sessionPanelPort(session, options), logger, ...(options.listenPort === undefined ? {} : { listenPort: options.listenPort }) });
  session.setPanelUrl(server.url);
  return server;
}
