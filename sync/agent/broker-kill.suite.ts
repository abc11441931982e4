import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV_HASH } from '@locker/contract/audit/audit-hash.js';
import { verifyAuditChain } from '@locker/contract/audit/audit-chain.js';
import { makeWorld, type BrokerFactory, type SuiteWorld } from '@locker/sync-testing/suite-fixture.js';
import { TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';

// Jepsen-style: the broker is killed (SIGKILL for Mosquitto) and restarted at least 20
// times while the locker writes and uploads 10,000 audit events. Afterwards the backend's
// deduplicated ledger is compared with what the device wrote:
//   lost        written by the device, never stored by the backend
//   duplicated  stored twice after dedupe (a seq with two different records)
//   unexpected  stored but never written (unknown seq), or a broken hash chain
// all must be 0; redelivered (same record received again: harmless) is reported too.

const EVENTS = 10_000;
const KILLS = 20;
// Each outage repeats the same experiment (kill, 1.5 s down, restart, wait for the
// locker); 5 of them (10 took ~20 s per broker) still interrupt the backlog's upload
// several times, and a backoff carried over from one outage to the next would be past
// its 60 s cap by the fifth.
const OUTAGES = 5;
const OUTAGE_MS = 1_500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function defineBrokerKillSuite(brokerName: string, startBroker: BrokerFactory): void {
  describe(`broker killed during upload (${brokerName})`, () => {
    let w: SuiteWorld;
    beforeEach(async () => {
      w = await makeWorld(startBroker);
    });
    afterEach(async () => {
      await w.dispose();
    });

    it(`loses and duplicates nothing across ${String(KILLS)} broker kills during a ${String(EVENTS)}-event upload`, async () => {
      // Production reconnect policy (sync-config.ts defaults), not the tests' short one:
      // how fast the locker comes back after a broker restart is part of what is measured.
      const locker = w.locker({ config: { reconnect: { initialMs: 500, maxMs: 60_000, jitter: 0.5 } } });
      const startedAt = performance.now();
      let written = 0;
      let producing = true;
      let kills = 0;
      let killsWhileWriting = 0;
      // Writing is paced by the kills, so all of them land while events are still being
      // written and uploaded (chunk c waits for c/5 kills: the last one for the 20th).
      const producer = (async () => {
        for (let chunk = 1; written < EVENTS; chunk++) {
          while (kills < Math.floor((chunk * KILLS) / (EVENTS / 100))) await sleep(5);
          locker.store.transaction(() => {
            for (let i = 0; i < 100 && written < EVENTS; i++) {
              written++;
              const lane = written % 997 === 0 ? 'priority' : 'normal';
              locker.store.appendAudit(lane === 'priority' ? 'door.uncommanded-open' : 'door.closed', lane, { compartmentId: 'C1', openMs: written, commanded: true });
            }
          });
          await sleep(10);
        }
        producing = false;
      })();
      while (kills < KILLS || producing) {
        await sleep(60 + Math.floor(Math.random() * 120));
        await w.broker.kill();
        kills++;
        if (producing) killsWhileWriting++;
        await sleep(Math.floor(Math.random() * 60));
        await w.broker.restart();
      }
      await producer;
      const lastRestartAt = performance.now();
      const ledger = w.backend.ledger(TEST_LOCKER_ID);
      await w.backend.waitFor(() => ledger.contiguous === EVENTS && locker.store.auditAckedWatermark() === EVENTS, 60_000, 'everything acked');
      const doneAt = performance.now();

      const writtenSeqs = new Set(Array.from({ length: EVENTS }, (_, i) => i + 1));
      const lost = [...writtenSeqs].filter((s) => !ledger.stored.has(s)).length;
      const unknown = [...ledger.stored.keys()].filter((s) => !writtenSeqs.has(s)).length;
      const chain = verifyAuditChain([...ledger.stored.values()].sort((a, b) => a.seq - b.seq), GENESIS_PREV_HASH);
      const unexpected = unknown + (chain.ok ? 0 : 1);
      const duplicated = ledger.conflicting;
      console.log(
        `[${brokerName}] kills=${String(kills)} killsWhileWriting=${String(killsWhileWriting)} events=${String(EVENTS)} lost=${String(lost)} duplicated=${String(duplicated)} ` +
          `unexpected=${String(unexpected)} redelivered=${String(ledger.redelivered)} agentRestarts=${String(locker.agent.status().restarts)}`,
      );
      // Drain time: how long the locker takes to get everything acknowledged, in total and
      // after the last broker restart (reconnect latency dominates the latter).
      console.log(`[${brokerName}] broker-kill total: ${String(Math.round(doneAt - startedAt))} ms`);
      console.log(`[${brokerName}] broker-kill drain after last restart: ${String(Math.round(doneAt - lastRestartAt))} ms`);
      expect(killsWhileWriting).toBeGreaterThanOrEqual(KILLS);
      expect({ lost, duplicated, unexpected }).toEqual({ lost: 0, duplicated: 0, unexpected: 0 });
      expect(locker.store.auditHighWatermark()).toBe(EVENTS);
    }, 120_000);

    it(`reconnects promptly after each of ${String(OUTAGES)} broker outages while draining a ${String(EVENTS)}-record backlog`, async () => {
      // Production reconnect policy; the broker stays down long enough (OUTAGE_MS) for an
      // exponential backoff to grow, which is what kept lockers offline after restarts.
      const locker = w.locker({ config: { reconnect: { initialMs: 500, maxMs: 60_000, jitter: 0.5 } } });
      locker.store.transaction(() => {
        for (let n = 1; n <= EVENTS; n++) locker.store.appendAudit('door.closed', 'normal', { compartmentId: 'C1', openMs: n, commanded: true });
      });
      const startedAt = performance.now();
      const reconnects: number[] = [];
      for (let i = 0; i < OUTAGES; i++) {
        await sleep(100);
        await w.broker.kill();
        await sleep(OUTAGE_MS);
        await w.broker.restart();
        const back = performance.now();
        await w.backend.waitFor(() => locker.agent.status().connected, 60_000, 'locker reconnected');
        reconnects.push(performance.now() - back);
      }
      const ledger = w.backend.ledger(TEST_LOCKER_ID);
      await w.backend.waitFor(() => ledger.contiguous === EVENTS && locker.store.auditAckedWatermark() === EVENTS, 60_000, 'everything acked');
      const total = performance.now() - startedAt;
      const sorted = [...reconnects].sort((a, b) => a - b);
      console.log(`[${brokerName}] backlog drain across ${String(OUTAGES)} outages of ${String(OUTAGE_MS)} ms: ${String(Math.round(total))} ms`);
      console.log(`[${brokerName}] reconnect after broker restart, median: ${String(Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0))} ms`);
      console.log(`[${brokerName}] reconnect after broker restart, max: ${String(Math.round(sorted[sorted.length - 1] ?? 0))} ms`);
      expect(locker.store.auditAckedWatermark()).toBe(EVENTS);
    }, 180_000);
  });
}
