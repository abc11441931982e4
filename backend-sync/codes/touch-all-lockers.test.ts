import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { touchAllLockers } from './touch-all-lockers.js';

describe('touching every locker (keyring changes)', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    for (let i = 0; i < 5; i++) await f.services.lockers.register(lockerInput(`lk-${String(i)}`, 52.52, 13.4 + i / 100, { M: 1 }));
  });
  afterEach(() => f.close());

  it('bumps each set exactly once, across batch boundaries', async () => {
    const versions = async (): Promise<number[]> => Promise.all([0, 1, 2, 3, 4].map(async (i) => (await f.store.codeSets.ensure(`lk-${String(i)}`)).version));
    const before = await versions();
    expect(await touchAllLockers(f.store, f.services.codeSets, 2)).toBe(5);
    expect(await versions()).toEqual(before.map((v) => v + 1));
  });
});
