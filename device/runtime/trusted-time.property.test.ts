import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { silentLogger } from '../logger.js';
import { openDeviceStore, type DeviceStore } from '../store/device-store.js';
import { TrustedTime } from './trusted-time.js';

// Property test of device time (docs/decisions/0019): random sequences of running time,
// wall-clock jumps, restarts (clean or crash, with power-off time) and signed times, run
// through the real TrustedTime on a real SQLite file, checked step by step against a
// model a few lines long, and against the properties the issue asks for.

const T0 = Date.UTC(2026, 3, 1);
const DAY = 86_400_000;
const TOLERANCE = 120_000;
const Y2038 = Date.UTC(2038, 0, 19, 3, 14, 8);

type Op =
  | { op: 'run'; ms: number }
  | { op: 'tick' }
  | { op: 'jump'; ms: number }
  | { op: 'signed'; staleMs: number }
  | { op: 'restart'; clean: boolean; offMs: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('run' as const), ms: fc.integer({ min: 0, max: 6 * 3_600_000 }) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'tick' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('jump' as const),
      ms: fc.oneof(fc.integer({ min: -400 * DAY, max: 400 * DAY }), fc.constantFrom(30 * DAY, -30 * DAY, 12 * 365 * DAY)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('signed' as const), staleMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 * DAY })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), clean: fc.boolean(), offMs: fc.integer({ min: 0, max: 10 * DAY }) }) },
);

/** The model: device time is its anchor plus awake time; nothing else moves it. */
interface Model {
  real: number;
  wallOffset: number;
  /** Model device time now. */
  device: number;
  /** What the store holds (what a crash falls back to). */
  checkpoint: number;
  confirmed: boolean;
  signedMax: number;
}

interface System {
  dir: string;
  store: DeviceStore;
  clock: FakeClock;
  time: TrustedTime;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function boot(sys: Pick<System, 'store'>, wall: number): { clock: FakeClock; time: TrustedTime } {
  // Monotonic time starts again at 0 on every boot, as performance.now() does.
  const clock = new FakeClock({ wallMs: wall, monotonicMs: 0 });
  const time = new TrustedTime(clock, sys.store, { toleranceMs: TOLERANCE }, silentLogger());
  time.start();
  return { clock, time };
}

function signedAudits(store: DeviceStore): number {
  return store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 100_000 }).filter((r) => r.type === 'clock.signed-time').length;
}

describe('device time under wall-clock jumps, restarts and signed times', () => {
  it('matches the model and keeps the issue 7 properties for any sequence', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(0), fc.constant(Y2038 - T0), fc.integer({ min: -400 * DAY, max: 400 * DAY })),
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        (firstWallOffset, ops) => {
          const dir = mkdtempSync(join(tmpdir(), 'trusted-time-prop-'));
          dirs.push(dir);
          const store = openDeviceStore({ path: join(dir, 'device.db'), lockerId: 'prop', logger: silentLogger(), now: () => T0 });
          try {
            const m: Model = { real: T0, wallOffset: firstWallOffset, device: T0 + firstWallOffset, checkpoint: T0 + firstWallOffset, confirmed: false, signedMax: 0 };
            let sys: System = { dir, store, ...boot({ store }, T0 + firstWallOffset) };
            let restarts = 0;
            let staleSigned = 0;
            let lastConfirmed: number | undefined;
            for (const op of ops) {
              switch (op.op) {
                case 'run':
                  sys.clock.advance(op.ms);
                  m.real += op.ms;
                  m.device += op.ms;
                  break;
                case 'tick':
                  sys.time.tick();
                  m.checkpoint = m.device;
                  break;
                case 'jump':
                  sys.clock.jumpWall(op.ms);
                  m.wallOffset += op.ms;
                  break;
                case 'signed': {
                  // An honest backend: its signed time is real time, perhaps from a delayed message.
                  const signed = m.real - op.staleMs;
                  if (op.staleMs > 0) staleSigned += 1;
                  sys.time.observeSignedTime(signed, 'audit-ack');
                  m.device = m.confirmed ? Math.max(m.device, signed) : Math.max(signed, m.signedMax);
                  m.confirmed = true;
                  m.signedMax = Math.max(m.signedMax, signed);
                  m.checkpoint = m.device;
                  break;
                }
                case 'restart': {
                  if (op.clean) {
                    sys.time.checkpoint();
                    m.checkpoint = m.device;
                  }
                  restarts += 1;
                  // A crash loses the time since the last checkpoint (at most one tick): the
                  // only way device time steps back, and never below what the store holds.
                  if (!op.clean && lastConfirmed !== undefined) lastConfirmed = Math.min(lastConfirmed, m.checkpoint);
                  m.real += op.offMs;
                  m.device = m.checkpoint;
                  sys = { ...sys, ...boot(sys, m.real + m.wallOffset) };
                  break;
                }
              }
              const now = sys.time.now();
              // The implementation is the model.
              expect(now).toBe(m.device);
              expect(sys.time.confirmedNow()).toBe(m.confirmed ? m.device : undefined);
              const confirmed = sys.time.confirmedNow();
              if (confirmed !== undefined) {
                // Never ahead of real time: no wall jump expires a parcel or opens a
                // not-yet-valid token (both compare confirmed time with the token's window).
                expect(confirmed).toBeLessThanOrEqual(m.real);
                // Never below the highest signed time; never backwards (no backward jump revives a token).
                expect(confirmed).toBeGreaterThanOrEqual(m.signedMax);
                if (lastConfirmed !== undefined) expect(confirmed).toBeGreaterThanOrEqual(lastConfirmed);
                lastConfirmed = confirmed;
              }
              // Recovery: a fresh signed time puts the device exactly on real time, whatever the wall says.
              if (op.op === 'signed' && op.staleMs === 0) expect(now).toBe(m.real);
            }
            // Signed times are audited when trust changes (first confirmation, catch-up after a
            // power-off, a crash or a delayed message), never for a routine fresh one.
            expect(signedAudits(store)).toBeLessThanOrEqual(1 + restarts + staleSigned);
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
