import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs, type LogCapture } from '@locker/sync-testing/log-capture.js';
import { BackendSigner } from '@locker/contract/backend-signer.js';
import type { Command, CommandReplyMessage } from '@locker/contract/command-messages.js';
import { encodeMessage } from '@locker/contract/decode-message.js';
import { topicFor } from '@locker/contract/topics.js';
import { CommandHandler } from '@locker/sync-agent/command-handler.js';
import type { RemoteOpenOutcome } from '@locker/sync-agent/device-sync-port.js';
import { RejectionReporter } from '@locker/sync-agent/rejection-reporter.js';
import type { SyncContext } from '@locker/sync-agent/sync-context.js';
import { Keyring } from '@locker/contract/tokens/keyring.js';
import { auditRecords, fillState, freeSpace, NO_LIMIT } from './full-disk.js';
import { Harness, LOCKER } from './harness.js';

// Support opens a compartment remotely (a signed `remote-open` over MQTT) while the SD card
// fills up (full-disk.ts says how it is simulated). The command must always settle with an
// answer the backend can show: the truthful outcome when the door moved (its records wait
// for space like any door record), a failure with a reason code when nothing could be
// recorded (and then nothing is pulsed), and never a promise left pending for ever.

let h: Harness;
let logs: LogCapture;

afterEach(async () => {
  h.store.database.pragma(`max_page_count = ${NO_LIMIT}`);
  await h.close();
});

/** A locker whose disk fills right before the next relay pulse while `fill.now` is set. */
async function started(): Promise<{ now: boolean }> {
  const fill = { now: false };
  logs = captureLogs('info');
  h = new Harness({
    logger: logs.logger,
    // Full to the last page of every table the open touches: the audit log, and the state
    // rows the remote open keeps its transaction's outcome in.
    beforePulse: () => {
      if (fill.now) fillState(h);
      fill.now = false;
    },
  });
  await h.start();
  return fill;
}

/** Where a promise stands now, without waiting for it. */
function track<T>(promise: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { value, settled: true }),
    (error: unknown) => Object.assign(state, { error, settled: true }),
  );
  return state;
}

const remoteOpen = (tx: string, compartmentId: string): Promise<RemoteOpenOutcome> => h.runtime.syncPort().remoteOpen(tx, compartmentId, 'customer on the phone');

describe('a remote open on a full disk', () => {
  it('settles with the truthful outcome when the door opened as the disk filled, and writes its record once space is back', async () => {
    const fill = await started();
    fill.now = true;
    const open = track(remoteOpen('tx-full-0001', 'A02'));
    await h.advance(1_000);
    expect(h.pulses('A02')).toBe(1);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(false);
    expect(open.settled).toBe(true);
    expect(open.value).toEqual({ outcome: 'opened' });

    // A repeat of the transaction while the record waits: the same answer, no second pulse.
    expect(await remoteOpen('tx-full-0001', 'A02')).toEqual({ outcome: 'opened' });
    expect(h.pulses('A02')).toBe(1);
    expect(h.runtime.stats().remoteOutcomesUnstored).toBe(1);
    // The door's own journal was written before the pulse (no door opens without its record).
    expect(auditRecords(h).filter((r) => r.type === 'door.open-begun' && r.data.transactionId === 'tx-full-0001')).toHaveLength(1);
    expect(auditRecords(h).filter((r) => r.type === 'remote.open' && r.data.transactionId === 'tx-full-0001')).toHaveLength(1);

    h.control.closeDoor('A02');
    await h.advance(1_000);
    freeSpace(h);
    await h.advance(10_000);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(true);
    expect(JSON.parse(h.store.loadState('remote-open:tx-full-0001') ?? '{}')).toMatchObject({ outcome: 'opened' });
    // Written: the outcome kept in memory is let go, and the store answers the repeat.
    expect(h.runtime.stats().remoteOutcomesUnstored).toBe(0);
    expect(logs.find('remote.open-outcome-released')).toEqual([expect.objectContaining({ transactionId: 'tx-full-0001', outcome: 'opened', written: true })]);
    expect(await remoteOpen('tx-full-0001', 'A02')).toEqual({ outcome: 'opened' });
    expect(h.pulses('A02')).toBe(1);
    // After a restart the repeat is answered from the store, still without a pulse.
    await h.restart();
    expect(await remoteOpen('tx-full-0001', 'A02')).toEqual({ outcome: 'opened' });
    expect(h.pulses('A02')).toBe(1);
    expect(h.store.verifyAuditChain().ok).toBe(true);
  });

  it('refuses, with DB_WRITE_FAILED and without a pulse, an open it cannot record, and does not hold later opens back', async () => {
    await started();
    fillState(h);
    const refused = track(remoteOpen('tx-full-0002', 'A03'));
    await h.advance(100);
    expect(refused.settled).toBe(true);
    expect(refused.error).toMatchObject({ code: 'DB_WRITE_FAILED' });
    expect(h.pulses()).toBe(0);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(false);
    expect(h.runtime.stats().handlerErrors).toBe(0);

    freeSpace(h);
    await h.advance(10_000);
    // Nothing of the refused open was recorded: its transaction was never pulsed, and a
    // new order opens the same door at once.
    expect(h.store.loadState('remote-open:tx-full-0002')).toBeUndefined();
    const next = track(remoteOpen('tx-full-0003', 'A03'));
    await h.advance(1_000);
    expect(next.value).toEqual({ outcome: 'opened' });
    expect(h.pulses('A03')).toBe(1);
  });
});

describe('a remote-open command through the sync agent on a full disk', () => {
  /** The agent's command handler on the runtime's own port, its replies collected. */
  /** `backendAheadMs`: how far the backend's clock (the seals' iat) is ahead of the locker's. */
  function agent(backendAheadMs = 0): { send: (tx: string, command: Command) => void; handler: CommandHandler; rejections: RejectionReporter; replies: CommandReplyMessage[]; failures: unknown[] } {
    const port = h.runtime.syncPort();
    const replies: CommandReplyMessage[] = [];
    const failures: unknown[] = [];
    const collect = (json: string): void => {
      replies.push(JSON.parse(json) as CommandReplyMessage);
    };
    const rejections = new RejectionReporter(port, logs.logger, 10, () => h.clock.monotonicMs());
    const ctx: SyncContext = {
      port, lockerId: LOCKER, ed: h.ed, keys: () => Keyring.fromRows(h.ed, h.store.keyringRows()), logger: logs.logger,
      now: () => h.runtime.trustedNow(),
      rejections,
      isConnected: () => true,
      publish: () => undefined,
      publishStored: (_suffix, json) => collect(json),
    };
    const handler = new CommandHandler(ctx, {
      requestSnapshot: () => undefined,
      publishHealth: () => undefined,
      background: (task) => {
        task.catch((err: unknown) => failures.push(err));
      },
      publishReply: collect,
    });
    const signer = new BackendSigner({ ed: h.ed, kid: 'k1', seed: new Uint8Array(32).fill(3), now: () => h.runtime.trustedNow() + backendAheadMs });
    const send = (tx: string, command: Command): void => {
      handler.handle(topicFor(LOCKER, 'cmd'), encodeMessage('cmd', signer.command(LOCKER, h.store.dbEpoch, tx, command, 60_000)));
    };
    return { send, handler, rejections, replies, failures };
  }

  it('sends the backend the real outcome of a door that opened as the disk filled, and answers a repeat with it', async () => {
    const fill = await started();
    const a = agent();
    fill.now = true;
    a.send('tx-agent-0001', { kind: 'remote-open', compartmentId: 'A02', reason: 'customer on the phone' });
    await h.advance(1_000);
    expect(h.pulses('A02')).toBe(1);
    expect(a.replies).toEqual([expect.objectContaining({ transactionId: 'tx-agent-0001', status: 'ok', result: { kind: 'remote-open', outcome: 'opened' } })]);
    expect(a.failures).toEqual([]);

    // The backend re-publishes until it sees a reply: a repeat is answered, never executed.
    a.send('tx-agent-0001', { kind: 'remote-open', compartmentId: 'A02', reason: 'customer on the phone' });
    await h.advance(100);
    expect(a.replies.map((r) => r.id)).toEqual([a.replies[0]?.id, a.replies[0]?.id]);
    expect(h.pulses('A02')).toBe(1);
  });

  it('answers a command that arrives on a full disk failed at once, never runs it, and runs support\'s new one once space is back', async () => {
    await started();
    const a = agent();
    const open: Command = { kind: 'remote-open', compartmentId: 'A03', reason: 'customer on the phone' };
    fillState(h);
    // The begin cannot be recorded: nothing runs, and the handler does not throw (thrown, it
    // would restart the agent's session and leave the backend without a reply).
    expect(() => a.send('tx-agent-0002', open)).not.toThrow();
    await h.advance(1_000);
    expect(h.pulses()).toBe(0);
    expect(a.failures).toEqual([]);
    expect(a.replies).toEqual([expect.objectContaining({ transactionId: 'tx-agent-0002', kind: 'remote-open', status: 'failed', reason: expect.stringMatching(/^DB_WRITE_FAILED: .*nothing executed/) as unknown })]);
    expect(a.replies[0]?.result).toBeUndefined();
    expect(logs.find('command.refused-unrecorded')).toEqual([
      expect.objectContaining({ transactionId: 'tx-agent-0002', kind: 'remote-open', errorCode: 'DB_WRITE_FAILED', storageCode: 'SQLITE_FULL', executed: false }),
    ]);
    expect(h.store.findCommandReply('tx-agent-0002')).toBeUndefined();
    const refusal = a.replies[0]?.id;

    // A copy of the same transaction while the disk is full: the same reply, nothing runs.
    a.send('tx-agent-0002', open);
    await h.advance(100);
    expect(a.replies.map((r) => r.id)).toEqual([refusal, refusal]);

    // Space is back: the agent's tick records the refusal with the reply that was sent.
    freeSpace(h);
    await h.advance(10_000);
    a.handler.storeUnstored();
    expect(JSON.parse(h.store.findCommandReply('tx-agent-0002')?.replyJson ?? '{}')).toMatchObject({ id: refusal, status: 'failed' });
    expect(h.store.unfinishedCommands()).toEqual([]);
    // A copy now (the backend already holds 'failed' and keeps its first reply): the same
    // answer, still not run, and after a restart too.
    a.send('tx-agent-0002', open);
    await h.advance(1_000);
    expect(h.pulses()).toBe(0);
    await h.restart();
    const b = agent();
    b.send('tx-agent-0002', open);
    await h.advance(1_000);
    expect(b.replies.map((r) => r.id)).toEqual([refusal]);
    expect(h.pulses()).toBe(0);
    expect(a.replies.map((r) => r.id)).toEqual([refusal, refusal, refusal]);

    // Support's retry is a new transaction: it runs normally.
    b.send('tx-agent-0003', open);
    await h.advance(1_000);
    expect(h.pulses('A03')).toBe(1);
    expect(b.replies.at(-1)).toMatchObject({ transactionId: 'tx-agent-0003', status: 'ok', result: { kind: 'remote-open', outcome: 'opened' } });
    expect([...a.failures, ...b.failures]).toEqual([]);
  });

  it('answers failed, without throwing, a command whose signed time the full disk cannot record either', async () => {
    await started();
    // The locker's clock 10 minutes behind the backend's (it was off): the command's signed
    // time corrects it, and that correction is audited, a write the full disk refuses too.
    const a = agent(10 * 60_000);
    const before = h.runtime.trustedNow();
    fillState(h);
    expect(() => a.send('tx-agent-0004', { kind: 'remote-open', compartmentId: 'A03', reason: 'customer on the phone' })).not.toThrow();
    await h.advance(1_000);
    expect(h.pulses()).toBe(0);
    expect(a.replies).toEqual([expect.objectContaining({ transactionId: 'tx-agent-0004', status: 'failed', reason: expect.stringMatching(/^DB_WRITE_FAILED: /) as unknown })]);
    expect(logs.find('storage.write-failed')).toEqual([expect.objectContaining({ source: 'signed-time:command', errorCode: 'DB_WRITE_FAILED', sqliteCode: 'SQLITE_FULL' })]);
    expect(h.runtime.syncPort().health().storage?.writable).toBe(false);
    // The correction is kept in memory (written by the clock tick once there is room).
    expect(h.runtime.trustedNow()).toBeGreaterThanOrEqual(before + 10 * 60_000);
    expect(a.failures).toEqual([]);
  });

  it('rejects a command that is past its expiry as expired, not failed, when the full disk refuses its begin', async () => {
    await started();
    // Sent 2 minutes ago with a 1-minute lifetime (a copy held up on the way, or replayed).
    const a = agent(-2 * 60_000);
    fillState(h);
    a.send('tx-agent-0005', { kind: 'remote-open', compartmentId: 'A03', reason: 'customer on the phone' });
    await h.advance(1_000);
    expect(h.pulses()).toBe(0);
    expect(a.replies).toEqual([expect.objectContaining({ transactionId: 'tx-agent-0005', status: 'rejected', reason: 'expired' })]);
    // Reported like any expired command (security relevant), and nothing kept for it.
    expect(a.rejections.counts()).toEqual({ 'command-expired': 1 });
    expect(logs.find('command.refused-unrecorded')).toEqual([]);
    freeSpace(h);
    await h.advance(10_000);
    a.handler.storeUnstored();
    expect(logs.find('command.refusal-recorded')).toEqual([]);
    expect(logs.find('command.refusal-expired-unrecorded')).toEqual([]);
    expect(h.store.findCommandReply('tx-agent-0005')).toBeUndefined();
    expect(a.failures).toEqual([]);
  });
});
