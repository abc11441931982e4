import { describe, expect, it } from 'vitest';
import { doorFlapStep, doorSteady, type DoorFlapEffect, type DoorFlapInput, type DoorFlapState } from './door-flap-guard.js';

const config = { edges: 4, windowMs: 1_000, quietMs: 3_000 };

/** Feeds inputs at the given times; returns the final state and every effect. */
function run(inputs: Array<[number, DoorFlapInput]>, from: DoorFlapState = doorSteady): { state: DoorFlapState; effects: DoorFlapEffect[] } {
  let state = from;
  const effects: DoorFlapEffect[] = [];
  for (const [at, input] of inputs) {
    const step = doorFlapStep(state, input, at, config);
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
});
