import { describe, expect, it } from 'vitest';
import { DEFAULT_DOOR_FLAP, doorFlapConfigProblems, doorFlapStep, doorSteady, type DoorFlapConfig, type DoorFlapEffect, type DoorFlapInput, type DoorFlapState } from './door-flap-guard.js';

const config: DoorFlapConfig = { edges: 4, windowMs: 1_000, quietMs: 3_000, slowEdges: 6, slowWindowMs: 10_000 };

/** Feeds inputs at the given times (the fake clock); returns the final state and every effect. */
function run(inputs: Array<[number, DoorFlapInput]>, from: DoorFlapState = doorSteady, cfg: DoorFlapConfig = config): { state: DoorFlapState; effects: DoorFlapEffect[] } {
  let state = from;
  const effects: DoorFlapEffect[] = [];
  for (const [at, input] of inputs) {
    const step = doorFlapStep(state, input, at, cfg);
    state = step.state;
    effects.push(...step.effects);
  }
  return { state, effects };
}

const open = { type: 'change', state: 'open', expected: false } as const;
const closed = { type: 'change', state: 'closed', expected: false } as const;

describe('door flap guard', () => {
  it('passes every change of a door used normally at once', () => {
    const { state, effects } = run([[0, open], [900, closed], [2_000, open], [2_950, closed], [4_000, open]]);
    expect(state.kind).toBe('steady');
    expect(effects).toEqual([open, closed, open, closed, open].map((c) => ({ type: 'pass', state: c.state })));
  });

  it('never counts the changes a command asked for, however quickly they follow each other', () => {
    const opened = { ...open, expected: true };
    const shut = { ...closed, expected: true };
    const { state, effects } = run([[0, opened], [50, shut], [100, opened], [150, shut], [200, opened], [250, shut], [300, open]]);
    expect(state).toEqual({ kind: 'steady', recent: [300] });
    expect(effects.every((e) => e.type === 'pass')).toBe(true);
  });

  it('reports flapping once at the edge count within the window, then only counts changes', () => {
    const { state, effects } = run([[0, open], [100, closed], [200, open], [300, closed], [400, open], [500, closed]]);
    expect(effects).toEqual([
      { type: 'pass', state: 'open' },
      { type: 'pass', state: 'closed' },
      { type: 'pass', state: 'open' },
      { type: 'flapping', edges: 4, windowMs: 1_000 },
      { type: 'start-quiet-timer', ms: 3_000 },
      { type: 'start-quiet-timer', ms: 3_000 },
      { type: 'start-quiet-timer', ms: 3_000 },
    ]);
    expect(state).toEqual({ kind: 'flapping', since: 300, last: 'closed', suppressed: 2 });
  });

  it('passes the last state once the sensor has been quiet, and is steady again', () => {
    const flapping: DoorFlapState = { kind: 'flapping', since: 300, last: 'open', suppressed: 7 };
    const { state, effects } = run([[5_000, { type: 'quiet' }]], flapping);
    expect(effects).toEqual([
      { type: 'settled', state: 'open', suppressed: 7, flappedMs: 4_700 },
      { type: 'pass', state: 'open' },
    ]);
    expect(state).toEqual(doorSteady);
    expect(run([[5_000, { type: 'quiet' }]]).effects).toEqual([]);
  });

  describe('slow flapping (the second, longer window)', () => {
    /** Unexplained changes, alternating open and closed, every `everyMs` from `from`. */
    function toggles(count: number, everyMs: number, from = 0): Array<[number, DoorFlapInput]> {
      return Array.from({ length: count }, (_, i): [number, DoorFlapInput] => [from + i * everyMs, i % 2 === 0 ? open : closed]);
    }

    it('reports a sensor toggling every 1.5 s once, at the slow count, with the slow window', () => {
      // Never 4 changes within 1 s: the short window alone would pass all of them.
      const { state, effects } = run(toggles(20, 1_500));
      expect(effects.filter((e) => e.type === 'pass')).toHaveLength(5);
      expect(effects.filter((e) => e.type === 'flapping')).toEqual([{ type: 'flapping', edges: 6, windowMs: 10_000 }]);
      expect(state).toEqual({ kind: 'flapping', since: 7_500, last: 'closed', suppressed: 14 });
    });

    it('with the defaults, reports a sensor toggling every 2.5 s after 4 uncommanded opens, not one every 5 s', () => {
      const { effects } = run(toggles(40, 2_500), doorSteady, DEFAULT_DOOR_FLAP);
      const passed = effects.flatMap((e) => (e.type === 'pass' ? [e.state] : []));
      expect(passed).toEqual(['open', 'closed', 'open', 'closed', 'open', 'closed', 'open']);
      expect(effects.filter((e) => e.type === 'flapping')).toEqual([{ type: 'flapping', edges: 8, windowMs: 60_000 }]);
      // Its changes come faster than the quiet period: it stays flapping, no second report.
      expect(effects.some((e) => e.type === 'settled')).toBe(false);
    });

    it('names the short window when both counts are reached at once', () => {
      const { effects } = run([...toggles(2, 3_000), ...toggles(4, 100, 9_000)]);
      expect(effects.filter((e) => e.type === 'flapping')).toEqual([{ type: 'flapping', edges: 4, windowMs: 1_000 }]);
    });

    it('forgets changes older than the slow window: a few uncommanded opens a minute apart each pass at once', () => {
      // An open and its close 20 s later, every 15 s of quiet: at most 4 changes in 10 s.
      const inputs: Array<[number, DoorFlapInput]> = [];
      for (let i = 0; i < 10; i++) inputs.push([i * 35_000, open], [i * 35_000 + 20_000, closed]);
      const { state, effects } = run(inputs);
      expect(effects).toEqual(inputs.map(([, c]) => ({ type: 'pass', state: (c as { state: string }).state })));
      expect(state.kind).toBe('steady');
    });

    it('passes a single uncommanded open at once, and never counts commanded changes towards the slow window', () => {
      const opened = { ...open, expected: true };
      const shut = { ...closed, expected: true };
      const cycles: Array<[number, DoorFlapInput]> = toggles(30, 1_200).map(([t, c]) => [t, c === open ? opened : shut]);
      const { state, effects } = run([...cycles, [40_000, open]]);
      expect(effects.every((e) => e.type === 'pass')).toBe(true);
      expect(effects.at(-1)).toEqual({ type: 'pass', state: 'open' });
      expect(state).toEqual({ kind: 'steady', recent: [40_000] });
    });

    it('settles after the quiet period and needs the full count again', () => {
      const first = run(toggles(6, 1_500));
      expect(first.state.kind).toBe('flapping');
      const settled = run([[30_000, { type: 'quiet' }], ...toggles(5, 1_500, 31_000)], first.state);
      expect(settled.effects.filter((e) => e.type === 'flapping')).toEqual([]);
      expect(settled.state.kind).toBe('steady');
    });
  });

  describe('config problems', () => {
    it('finds none in the defaults', () => {
      expect(doorFlapConfigProblems(DEFAULT_DOOR_FLAP)).toEqual([]);
      expect(doorFlapConfigProblems(config)).toEqual([]);
    });

    it('refuses fewer than 2 edges, a quiet period shorter than a window, and a slow window shorter than the fast one', () => {
      expect(doorFlapConfigProblems({ ...DEFAULT_DOOR_FLAP, edges: 1 }).map((p) => p.key)).toEqual(['edges']);
      expect(doorFlapConfigProblems({ ...DEFAULT_DOOR_FLAP, slowEdges: 1 }).map((p) => p.key)).toEqual(['slowEdges']);
      expect(doorFlapConfigProblems({ ...DEFAULT_DOOR_FLAP, quietMs: 4_000 }).map((p) => p.key)).toEqual(['quietMs', 'quietMs']);
      expect(doorFlapConfigProblems({ ...DEFAULT_DOOR_FLAP, slowWindowMs: 4_000 }).map((p) => p.key)).toEqual(['slowWindowMs']);
      expect(doorFlapConfigProblems({ ...DEFAULT_DOOR_FLAP, slowEdges: 4 })).toEqual([
        { key: 'quietMs', message: expect.stringContaining('(20000)') as unknown },
      ]);
    });
  });
});
