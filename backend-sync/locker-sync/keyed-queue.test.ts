import { describe, expect, it } from 'vitest';
import { KeyedQueue } from './keyed-queue.js';

const deferred = (): { promise: Promise<void>; resolve: () => void } => {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('keyed queue', () => {
  it('runs the tasks of one key one at a time, in the order they were queued', async () => {
    const q = new KeyedQueue();
    const log: string[] = [];
    const gate = deferred();
    const first = q.run('a', async () => {
      log.push('a1 start');
      await gate.promise;
      log.push('a1 end');
    });
    const second = q.run('a', () => {
      log.push('a2');
      return Promise.resolve();
    });
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a1 start']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(log).toEqual(['a1 start', 'a1 end', 'a2']);
  });

  it('runs another key meanwhile, and a failed task neither blocks its key nor loses its error', async () => {
    const q = new KeyedQueue();
    const gate = deferred();
    const slow = q.run('a', () => gate.promise);
    expect(await q.run('b', () => Promise.resolve('b done'))).toBe('b done');
    expect(q.busy).toBe(true);
    gate.resolve();
    await slow;
    await expect(q.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await q.run('a', () => Promise.resolve(42))).toBe(42);
  });

  it('is idle only when every task, including ones queued by tasks, has finished', async () => {
    const q = new KeyedQueue();
    const done: string[] = [];
    void q.run('a', async () => {
      await new Promise((r) => setTimeout(r, 5));
      void q.run('b', async () => {
        await new Promise((r) => setTimeout(r, 5));
        done.push('b');
      });
      done.push('a');
    });
    await q.idle();
    expect(done).toEqual(['a', 'b']);
    expect(q.busy).toBe(false);
  });
});
