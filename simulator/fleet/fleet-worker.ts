import { mkdirSync } from 'node:fs';
import { FleetLocker } from '@locker/sync-testing/multi-instance/fleet-locker.js';
import { ParentMessage, type AgentTuning, type LockerAssignment, type WorkerMessage, type WorkerStats } from './fleet-ipc.js';

// One worker process of the fleet: a share of the lockers, each the real device runtime
// and sync agent on simulated hardware with its own SQLite file, all on this process's
// event loop. It plays the courier and the customer at the parent's request and reports
// what happened; on 'stop', SIGTERM, SIGINT or a lost parent it stops every locker
// cleanly (agent first, then runtime, store, hardware) and exits.

const DOOR_WAIT_MS = 10_000;
const CODE_WAIT_MS = 30_000;

const lockers = new Map<string, FleetLocker>();
/** Every locker whose start began, with that start: a stop waits for it before closing. */
const starts = new Map<FleetLocker, Promise<void>>();
let stopping: Promise<void> | undefined;
/** One person at a locker's screen at a time: a courier's session and a customer's keypad entry do not interleave. */
const atScreen = new Map<string, Promise<unknown>>();

function inTurn<T>(lockerId: string, fn: () => Promise<T>): Promise<T> {
  const turn = (atScreen.get(lockerId) ?? Promise.resolve()).then(fn, fn);
  const settled = turn.catch(() => undefined);
  atScreen.set(lockerId, settled);
  void settled.then(() => {
    if (atScreen.get(lockerId) === settled) atScreen.delete(lockerId);
  });
  return turn;
}

function send(message: WorkerMessage): void {
  // With a callback a failed write (the parent gone an instant ago: EPIPE) is not an
  // uncaught 'error' event that kills this worker before its lockers are closed; the
  // channel's 'disconnect' stops them.
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(predicate: () => boolean, timeoutMs: number, pollMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

function agentConfig(t: AgentTuning): ConstructorParameters<typeof FleetLocker>[2] {
  return {
    realTime: true,
    agent: {
      protocolVersion: t.protocolVersion,
      keepaliveSeconds: t.keepaliveSeconds,
      reconnect: { initialMs: t.reconnect.initialMs, maxMs: t.reconnect.maxMs, jitter: t.reconnect.jitter, promptMaxMs: t.reconnect.promptMaxMs },
      audit: { pollMs: t.auditPollMs, ackTimeoutMs: 15_000, batchSize: 200, maxInFlight: 8 },
      healthIntervalMs: t.healthIntervalMs,
      snapshotRequestIntervalMs: 5_000,
      restart: { initialMs: 500, maxMs: 10_000 },
    },
  };
}

async function start(m: Extract<ParentMessage, { type: 'start' }>): Promise<void> {
  const t0 = performance.now();
  mkdirSync(m.dataDir, { recursive: true });
  const queue: LockerAssignment[] = [...m.lockers];
  const startOne = async (a: LockerAssignment): Promise<void> => {
    const locker = new FleetLocker(a.id, a.compartments, agentConfig(m.agent));
    const started = locker.start(m.dataDir, a.provisioning, m.mqttUrl);
    starts.set(locker, started);
    await started;
    lockers.set(a.id, locker);
  };
  await Promise.all(
    Array.from({ length: Math.min(m.startConcurrency, queue.length) }, async () => {
      for (let a = queue.shift(); a !== undefined && stopping === undefined; a = queue.shift()) await startOne(a);
    }),
  );
  send({ type: 'started', lockers: lockers.size, ms: performance.now() - t0 });
}

function lockerOf(id: string): FleetLocker {
  const l = lockers.get(id);
  if (l === undefined) throw new Error(`no locker ${id} in this worker`);
  return l;
}

/** A person at an open door: waits for it to open, lets the runtime see it, closes it. */
async function openAndClose(locker: FleetLocker, compartmentId: string, what: string): Promise<void> {
  if (!(await until(() => locker.doorIsOpen(compartmentId), DOOR_WAIT_MS, 10))) {
    throw new Error(`${what}: door ${locker.id}/${compartmentId} did not open (display: ${locker.lastText()})`);
  }
  // The person lets go once the latch is no longer held (relay off) and the runtime has
  // seen the door open: closing into an energised latch is not what people do.
  await until(() => !locker.sim.control.energised(compartmentId), DOOR_WAIT_MS, 10);
  await sleep(100);
  await locker.closeDoor(compartmentId);
}

async function deposit(m: Extract<ParentMessage, { type: 'deposit' }>): Promise<Omit<Extract<WorkerMessage, { type: 'op-done' }>, 'type' | 'opId' | 'ok'>> {
  const locker = lockerOf(m.lockerId);
  // The backend's code batch may still be on its way: the courier waits, away from the screen.
  if (!(await until(() => locker.hasLiveCode(m.shipmentId), CODE_WAIT_MS, 50))) throw new Error(`deposit: ${m.lockerId} never received the code of ${m.shipmentId}`);
  return inTurn(m.lockerId, async () => {
    await locker.scan(m.credential);
    await locker.scan(m.shipmentId);
    await openAndClose(locker, m.compartmentId, `deposit of ${m.shipmentId}`);
    return {};
  });
}

async function pickup(m: Extract<ParentMessage, { type: 'pickup' }>): Promise<Omit<Extract<WorkerMessage, { type: 'op-done' }>, 'type' | 'opId' | 'ok'>> {
  const locker = lockerOf(m.lockerId);
  return inTurn(m.lockerId, async () => {
    const before = locker.pulses(m.compartmentId);
    const pressedAt = locker.clock.now();
    await locker.type(`${m.code}#`);
    if (!(await until(() => locker.pulses(m.compartmentId) > before, DOOR_WAIT_MS, 2))) {
      throw new Error(`pickup: no relay pulse on ${m.lockerId}/${m.compartmentId} (display said: ${shownSince(locker, pressedAt)})`);
    }
    const keypadToRelayMs = Math.max(0, (locker.lastPulse(m.compartmentId)?.startedAt ?? pressedAt) - pressedAt);
    await openAndClose(locker, m.compartmentId, 'pickup');
    return { keypadToRelayMs };
  });
}

/** What the display showed since a moment, for an error message a technician can act on. */
function shownSince(locker: FleetLocker, since: number): string {
  const texts = locker.sim.control.indicator
    .history()
    .flatMap((e) => (e.type === 'message' && e.at >= since ? [e.message.text] : []));
  return texts.length === 0 ? locker.lastText() : texts.join(' | ');
}

function stats(): WorkerStats {
  let connected = 0;
  let auditWritten = 0;
  let auditAcked = 0;
  for (const l of lockers.values()) {
    if (l.agent.status().connected) connected++;
    auditWritten += l.store.auditHighWatermark();
    auditAcked += l.store.auditAckedWatermark();
  }
  return { lockers: lockers.size, connected, auditWritten, auditAcked, rssBytes: process.memoryUsage.rss() };
}

async function stopAll(): Promise<void> {
  stopping ??= (async () => {
    // Bounded per locker: one that hangs must not keep the process (and its relays) alive.
    const bounded = (p: Promise<void>): Promise<void> => Promise.race([p.catch(() => undefined), sleep(10_000)]);
    await Promise.all([...starts].map(([l, started]) => bounded(started.then(() => l.close()))));
    lockers.clear();
    starts.clear();
  })();
  return stopping;
}

async function stopAndExit(code: number): Promise<void> {
  await stopAll();
  send({ type: 'stopped' });
  // Let the IPC channel flush the last message before the process goes.
  setTimeout(() => process.exit(code), 50).unref();
  process.disconnect?.();
}

async function handle(raw: unknown): Promise<void> {
  const parsed = ParentMessage.safeParse(raw);
  if (!parsed.success) {
    send({ type: 'failed', error: `bad message from parent: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
    return;
  }
  const m = parsed.data;
  switch (m.type) {
    case 'start':
      try {
        await start(m);
      } catch (err) {
        send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
      }
      return;
    case 'deposit':
    case 'pickup':
      try {
        const extra = m.type === 'deposit' ? await deposit(m) : await pickup(m);
        send({ type: 'op-done', opId: m.opId, ok: true, ...extra });
      } catch (err) {
        send({ type: 'op-done', opId: m.opId, ok: false, error: err instanceof Error ? err.message : String(err) });
      }
      return;
    case 'stats':
      send({ type: 'stats', stats: stats() });
      return;
    case 'stop':
      await stopAndExit(0);
      return;
  }
}

process.on('message', (raw: unknown) => {
  void handle(raw);
});
// The parent died or closed the channel: nobody will ever stop us, so stop now.
process.on('disconnect', () => {
  void stopAll().then(() => process.exit(0));
});
// A terminal's Ctrl-C reaches the whole process group; the parent coordinates the stop,
// but a signal sent to this process alone stops it cleanly too.
process.on('SIGINT', () => void stopAndExit(130));
process.on('SIGTERM', () => void stopAndExit(143));
