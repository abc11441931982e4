import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@locker/device/logger.js';
import { makeBatch, makeEntries } from '@locker/device/store/store-test-fixtures.js';
import { BatchPayloadParser } from './batch-payload-parser.js';

// The worker that parses large code-batch payloads off the event loop: what it hands back
// must be the parsed message again, split so the decoder can take the upserts a chunk at a time.

const message = { v: 1, type: 'code-batch', id: 'm-1', sentAt: 1, manifest: 'x', batch: makeBatch({ upserts: makeEntries(0, 450) }) };

describe('BatchPayloadParser', () => {
  let parser: BatchPayloadParser | undefined;
  afterEach(() => parser?.stop());

  it('hands back the message without its upserts and the upserts as JSON arrays of at most `chunk` entries, in order', async () => {
    parser = new BatchPayloadParser(silentLogger());
    parser.start();
    const parsed = await parser.parse(Buffer.from(JSON.stringify(message)), 200);
    expect(parser.workerRunning).toBe(true);
    if (parsed?.ok !== true || parsed.chunks === undefined) throw new Error(`not split: ${JSON.stringify(parsed)}`);
    expect(parsed.count).toBe(450);
    const chunks = parsed.chunks.map((c) => JSON.parse(c) as unknown[]);
    expect(chunks.map((c) => c.length)).toEqual([200, 200, 50]);
    expect(chunks.flat()).toEqual(message.batch.upserts);
    expect(JSON.parse(parsed.shell)).toEqual({ ...message, batch: { ...message.batch, upserts: [] } });
  });

  it('names bytes that are not UTF-8 or not JSON, and leaves a message without an upserts array whole', async () => {
    parser = new BatchPayloadParser(silentLogger());
    parser.start();
    expect(await parser.parse(Buffer.from([0x7b, 0xff, 0x7d]), 200)).toEqual({ ok: false, reason: 'not-utf8' });
    expect(await parser.parse(Buffer.from('{"v":1,'), 200)).toEqual({ ok: false, reason: 'not-json' });
    const odd = JSON.stringify({ ...message, batch: { ...message.batch, upserts: 'many' } });
    expect(await parser.parse(Buffer.from(odd), 200)).toEqual({ ok: true, shell: odd });
  });

  it('does not consume the caller\'s buffer', async () => {
    parser = new BatchPayloadParser(silentLogger());
    parser.start();
    const payload = Buffer.from(JSON.stringify(message));
    const copy = Buffer.from(payload);
    await parser.parse(payload, 200);
    expect(payload.equals(copy)).toBe(true);
  });

  it('offers no worker before start() or after stop(), and fails what was in flight when stopped', async () => {
    parser = new BatchPayloadParser(silentLogger());
    expect(parser.parse(Buffer.from('{}'), 200)).toBeUndefined();
    parser.start();
    const inFlight = parser.parse(Buffer.from(JSON.stringify(message)), 200);
    parser.stop();
    await expect(inFlight).rejects.toThrow(/stopped/);
    expect(parser.parse(Buffer.from('{}'), 200)).toBeUndefined();
  });

  it('stops an idle worker and starts another for the next payload', async () => {
    parser = new BatchPayloadParser(silentLogger(), { idleMs: 50 });
    parser.start();
    await parser.parse(Buffer.from(JSON.stringify(message)), 200);
    expect(parser.workerRunning).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(parser.workerRunning).toBe(false);
    expect((await parser.parse(Buffer.from(JSON.stringify(message)), 200))?.ok).toBe(true);
  });
});
