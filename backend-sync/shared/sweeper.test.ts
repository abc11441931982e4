import { describe, expect, it } from 'vitest';
import { Sweeper } from './sweeper.js';
import { recordingLogger } from '../testing/recording-logger.js';

// The sweeper's own promises: every task runs each pass even when one fails, and no task
// ever runs two passes at once however often tick() is called.

describe('sweeper', () => {
  it('runs every task in a pass, logging a task that rejects without stopping the others', async () => {
    const { logger, lines } = recordingLogger();
    const ran: string[] = [];
    const sweeper = new Sweeper(
      [
        { name: 'first', run: () => Promise.resolve(ran.push('first')) },
        { name: 'broken', run: () => Promise.reject(new Error('db is gone')) },
        {
          name: 'throws',
          run: () => {
            throw new Error('synchronous failure');
          },
        },
        { name: 'last', run: () => Promise.resolve(ran.push('last')) },
      ],
      60_000,
      logger,
    );
    await sweeper.tick();
    expect(ran).toEqual(['first', 'last']);
    const failed = lines.filter((l) => l['msg'] === 'sweeper.task_failed');
    expect(failed.map((l) => [l['task'], l['err']])).toEqual([
      ['broken', 'db is gone'],
      ['throws', 'synchronous failure'],
    ]);
  });

  it('never runs two passes of one task at once: a tick during a pass shares it', async () => {
    let running = 0;
    let most = 0;
    let passes = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sweeper = new Sweeper(
      [
        {
          name: 'slow',
          run: async () => {
            running++;
            most = Math.max(most, running);
            await gate;
            running--;
            return ++passes;
          },
        },
      ],
      60_000,
      recordingLogger().logger,
    );
    const a = sweeper.tick();
    const b = sweeper.tick();
    const stopped = sweeper.stop();
    expect(b).toBe(a);
    release();
    await Promise.all([a, b, stopped]);
    expect({ most, passes }).toEqual({ most: 1, passes: 1 });
    await sweeper.tick();
    expect(passes).toBe(2);
  });
});
