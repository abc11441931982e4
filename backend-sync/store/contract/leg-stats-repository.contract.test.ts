import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { addSample, emptyLegStats, learnLeg, type LegStats } from '../../tracking/eta/leg-stats.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { SqlLegStatsRepository } from '../sql/leg-stats-repository.js';
import { sql } from '../sql/sql-text.js';

// Learned leg times on every engine: merges in the database equal the exact merge in memory,
// whatever the grouping, also when instances merge at the same moment.

const dir = mkdtempSync(join(tmpdir(), 'leg-stats-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('leg stats contract');
const H = 3_600_000;
const T = 1_800_000_000_000;

const shipment = (carrier: string, transitHours: number, outHours: number) =>
  learnLeg(emptyLegStats, {
    carrier,
    events: [
      { status: 'in_transit', eventTime: T },
      { status: 'out_for_delivery', eventTime: T + (transitHours - outHours) * H },
      { status: 'delivered', eventTime: T + transitHours * H },
    ],
  });

describe.each(engines)('LegStatsRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlLegStatsRepository;
  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlLegStatsRepository(x);
  });
  afterEach(() => dispose());

  it('merges deltas exactly: shipments merged by two connections at once add up to the in-memory merge of all of them', async () => {
    const hours = [20, 26, 31, 22, 40, 28];
    let expected: LegStats = emptyLegStats;
    for (const h of hours) expected = learnLeg(expected, { carrier: 'dhl', events: [{ status: 'in_transit', eventTime: T }, { status: 'out_for_delivery', eventTime: T + (h - 2) * H }, { status: 'delivered', eventTime: T + h * H }] });
    // Two "instances" at once, three shipments each.
    await Promise.all([0, 3].map((o) => x.transaction(async () => {
      for (const h of hours.slice(o, o + 3)) await repo.merge(shipment('dhl', h, 2), T);
    })));
    const got = await repo.all();
    const e = expected['dhl']!;
    const g = got['dhl']!;
    expect(g.in_transit!.count).toBe(6);
    expect(g.in_transit!.shipments).toBe(6);
    expect(g.in_transit!.mean).toBeCloseTo(e.in_transit!.mean, 3);
    expect(g.in_transit!.m2 / e.in_transit!.m2).toBeCloseTo(1, 9);
    expect(g.out_for_delivery).toEqual({ count: 6, mean: 2 * H, m2: 0, shipments: 6 });
    expect(Object.keys(got)).toEqual(['dhl']);
  });

  it('loads a row stored before shipments were counted (or by an older instance) with 0 shipments, and counts new ones on top', async () => {
    await x.run(sql(`INSERT INTO tracking_leg_stats (carrier, status, count, mean, m2, updated_at) VALUES ('dhl', 'in_transit', 40, ${String(20 * H)}, 0, ${String(T)})`));
    expect((await repo.all())['dhl']?.in_transit).toEqual({ count: 40, mean: 20 * H, m2: 0, shipments: 0 });
    await repo.merge(shipment('dhl', 20, 2), T);
    expect((await repo.all())['dhl']?.in_transit).toMatchObject({ count: 41, shipments: 1 });
  });

  it('reads back what it stores through the schema, and refuses a tampered row', async () => {
    await repo.merge({ ups: { exception: addSample(undefined, 5 * H) } }, T);
    expect(await repo.all()).toEqual({ ups: { exception: { count: 1, mean: 5 * H, m2: 0, shipments: 0 } } });
    await x.run(sql(`UPDATE tracking_leg_stats SET status = 'teleported'`));
    await expect(repo.all()).rejects.toThrow();
  });
});
