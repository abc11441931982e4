import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { EventRing, type RingEntry } from './event-ring.js';
import { PanelEvent } from './panel-events.js';
import { LockerView, type PanelPort, type StreamedLockerView, type Unsubscribe } from './panel-port.js';

// The live stream to the pages (server-sent events). Every session event gets a stream id
// and goes into a bounded ring; a page that reconnects with Last-Event-ID gets what it
// missed. After a burst of events of a locker the page also gets that locker's fresh view
// (`event: locker`), so it redraws from the locker's state, never from its own guess.
//
// Messages: `event: locker` (a StreamedLockerView: the LockerView and the locker's alarm
// count, kept here because every event passes through; no id), `event: sim` (id + PanelEvent),
// `event: gap` (the ring no longer holds what the page missed), and `: heartbeat` comments
// that keep proxies and the browser from timing the connection out.
//
// A page that stops reading (a suspended laptop, a stalled proxy) is cut off once
// `maxBufferedBytes` wait for it, rather than buffered for without bound: when it comes
// back, it reconnects with Last-Event-ID and the ring fills in what it missed (or says it
// cannot), as after any other drop. What waits for it counts both the bytes its socket has
// not taken and the live events held back while its snapshot is being fetched (those are
// also bounded by the ring's size, so a stalled snapshot never holds more than the ring).
// The catch-up itself (snapshot, replay, held-back events) is written in one go and may
// exceed the cut-off: it is allowed on top of it until the page has taken it, so a page is
// never cut off by its own replay and reconnects in a loop. No check of the configuration
// could promise that instead: an audit event's data has no size limit, so neither has a
// full ring.

export interface SseHubOptions {
  port: PanelPort;
  logger: Logger;
  ringSize: number;
  heartbeatMs: number;
  /** How long events of a locker are gathered before its view is sent. */
  snapshotDelayMs: number;
  /** Events replayed to a page that connects for the first time (no Last-Event-ID). */
  freshReplay: number;
  /** Bytes written to a page and not yet taken by it, beyond which its stream is cut off. */
  maxBufferedBytes: number;
}

/** A live event as written to the stream, serialised once for every page. */
interface Outgoing {
  lockerId: string;
  text: string;
  bytes: number;
}

interface Client {
  res: ServerResponse;
  lockerId: string | undefined;
  /** Live events that arrived while the snapshot and replay were being written. */
  queued: Outgoing[] | undefined;
  queuedBytes: number;
  /** Bytes of the catch-up the page had not taken when it was written: allowed beyond maxBufferedBytes. */
  catchUpBytes: number;
}

export class SseHub {
  private readonly ring: EventRing;
  private readonly clients = new Set<Client>();
  private readonly pendingViews = new Map<string, NodeJS.Timeout>();
  /** Alarm-level events per locker, history and live (a page's own count would miss what a gap skipped). */
  private readonly alarms = new Map<string, number>();
  private unsubscribe: Unsubscribe | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly options: SseHubOptions) {
    this.ring = new EventRing(options.ringSize);
    this.log = options.logger;
  }

  start(): void {
    for (const event of this.options.port.history()) this.accept(event, false);
    this.unsubscribe = this.options.port.subscribe((event) => this.accept(event, true));
    this.heartbeat = setInterval(() => {
      for (const client of this.clients) this.send(client, ': heartbeat\n\n');
    }, this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  get connections(): number {
    return this.clients.size;
  }

  /** Streams to `res` until the page goes away. `lastEventId`: from the Last-Event-ID header. */
  async attach(res: ServerResponse, lockerId: string | undefined, lastEventId: number | undefined): Promise<void> {
    const client: Client = { res, lockerId, queued: [], queuedBytes: 0, catchUpBytes: 0 };
    const upTo = this.ring.newestId;
    // An id this ring never issued (the page's from before a simulator restart: ids begin
    // at 1 again) tells nothing of what the page saw: it is replayed to as a fresh page, and
    // told it missed events.
    const known = lastEventId !== undefined && this.ring.issued(lastEventId);
    // Taken now, not after the snapshot: the live events held back meanwhile (up to the ring's
    // size) would push what the page missed out of the ring, a gap where there was none.
    const replay = this.ring.since(known ? lastEventId : Math.max(0, upTo - this.options.freshReplay), lockerId);
    const gap = lastEventId !== undefined && (!known || !replay.complete);
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
    res.write('retry: 2000\n\n');
    try {
      const views = await this.views(lockerId);
      // Cut off while the snapshot was fetched (too many events held back): nothing more to write.
      if (!this.clients.has(client)) return;
      for (const view of views) this.send(client, message('locker', view), true);
    } catch (err) {
      this.log.error({ err }, 'panel.snapshot_failed');
    }
    if (!this.clients.has(client)) return;
    if (gap) this.send(client, message('gap', { missedBefore: replay.entries[0]?.id ?? upTo + 1 }), true);
    for (const entry of replay.entries) this.send(client, entryMessage(entry), true);
    const queued = client.queued ?? [];
    for (const item of queued) this.send(client, item.text, true);
    client.queued = undefined;
    client.queuedBytes = 0;
    // What of the catch-up still waits for the page is allowed on top of the cut-off, until
    // the page has taken it (drain); after that only the cut-off applies.
    client.catchUpBytes = res.writableLength;
    if (res.writableNeedDrain) res.once('drain', () => (client.catchUpBytes = 0));
    // Views of those events were held back (they could have overtaken the snapshot): send them now.
    for (const id of new Set(queued.map((e) => e.lockerId))) this.scheduleView(id);
  }

  /** Ends every open stream; the pages reconnect and get what they missed from the ring. */
  dropStreams(): void {
    for (const client of this.clients) client.res.end();
    this.clients.clear();
  }

  close(): void {
    this.unsubscribe?.();
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    for (const timer of this.pendingViews.values()) clearTimeout(timer);
    this.pendingViews.clear();
    for (const client of this.clients) client.res.end();
    this.clients.clear();
  }

  private accept(candidate: PanelEvent, live: boolean): void {
    // The stream's contract is the schema: an event that does not fit is dropped and logged, not sent.
    const parsed = PanelEvent.safeParse(candidate);
    if (!parsed.success) {
      this.log.warn({ type: candidate.type, lockerId: candidate.lockerId, issue: parsed.error.issues[0]?.message }, 'panel.event_dropped');
      return;
    }
    const entry = this.ring.push(parsed.data);
    if (entry.event.words?.level === 'alarm') this.alarms.set(entry.event.lockerId, (this.alarms.get(entry.event.lockerId) ?? 0) + 1);
    if (!live) return;
    const text = entryMessage(entry);
    const outgoing: Outgoing = { lockerId: entry.event.lockerId, text, bytes: Buffer.byteLength(text) };
    for (const client of this.clients) {
      if (client.lockerId !== undefined && client.lockerId !== outgoing.lockerId) continue;
      if (client.queued !== undefined) this.hold(client, client.queued, outgoing);
      else this.send(client, text);
    }
    this.scheduleView(outgoing.lockerId);
  }

  /** Holds a live event for a page whose snapshot is being written, within the same bounds as its socket. */
  private hold(client: Client, queued: Outgoing[], outgoing: Outgoing): void {
    queued.push(outgoing);
    client.queuedBytes += outgoing.bytes;
    const bufferedBytes = client.res.writableLength + client.queuedBytes;
    if (queued.length <= this.options.ringSize && bufferedBytes <= this.options.maxBufferedBytes) return;
    this.cutOff(client, { stage: 'snapshot', bufferedBytes, queuedEvents: queued.length });
  }

  private scheduleView(lockerId: string): void {
    if (this.pendingViews.has(lockerId)) return;
    const timer = setTimeout(() => {
      this.pendingViews.delete(lockerId);
      this.views(lockerId).then(
        (views) => {
          for (const client of this.clients) {
            if (client.queued !== undefined || (client.lockerId !== undefined && client.lockerId !== lockerId)) continue;
            for (const view of views) this.send(client, message('locker', view));
          }
        },
        (err: unknown) => this.log.error({ err, lockerId }, 'panel.snapshot_failed'),
      );
    }, this.options.snapshotDelayMs);
    this.pendingViews.set(lockerId, timer);
  }

  /**
   * Writes to one page, and cuts it off when it has stopped taking what it is sent.
   * `catchUp`: part of the snapshot and replay, allowed on top of the cut-off.
   */
  private send(client: Client, text: string, catchUp = false): void {
    if (client.res.destroyed) return;
    client.res.write(text);
    if (catchUp) return;
    // writableLength: what Node holds for this response beyond what the kernel took.
    const bufferedBytes = client.res.writableLength;
    if (bufferedBytes <= this.options.maxBufferedBytes + client.catchUpBytes) return;
    this.cutOff(client, { stage: 'live', bufferedBytes });
  }

  /** Lets a page go that fell too far behind: it reconnects with Last-Event-ID and resyncs. */
  private cutOff(client: Client, fields: { stage: 'snapshot' | 'live'; bufferedBytes: number; queuedEvents?: number }): void {
    this.clients.delete(client);
    client.queued = undefined;
    client.queuedBytes = 0;
    this.log.warn({ lockerId: client.lockerId, ...fields, maxBufferedBytes: this.options.maxBufferedBytes }, 'panel.stream_too_slow');
    // end() would wait for the page to read the backlog; destroy() lets it go now.
    client.res.destroy();
  }

  private async views(lockerId: string | undefined): Promise<StreamedLockerView[]> {
    const all = await this.options.port.lockers();
    return all
      .filter((l) => lockerId === undefined || l.id === lockerId)
      .map((l) => ({ ...LockerView.parse(l), alarms: this.alarms.get(l.id) ?? 0 }));
  }
}

function message(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function entryMessage(entry: RingEntry): string {
  return `id: ${String(entry.id)}\nevent: sim\ndata: ${JSON.stringify(entry.event)}\n\n`;
}
