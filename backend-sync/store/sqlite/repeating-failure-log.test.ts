import { describe, expect, it } from 'vitest';
import { recordingLogger } from '../../testing/recording-logger.js';
import { RepeatingFailureLog } from './repeating-failure-log.js';

describe('a failure repeated at every pass', () => {
  it('is logged when it starts, then once a minute with its count, and once when it ends', () => {
    const { logger, lines } = recordingLogger();
    let now = 1_000;
    const gate = new RepeatingFailureLog({ log: logger, event: 'db.checkpoint_failed', now: () => now });
    // Two minutes of a pass every 50 ms that fails: the second summary would be due at the
    // 2,401st failure, one pass after the last.
    for (let i = 0; i < 2_400; i++) {
      gate.failed('disk I/O error');
      now += 50;
    }
    expect(gate.consecutive).toBe(2_400);
    gate.succeeded();
    gate.succeeded();
    expect(lines.map((l) => [l['msg'], l['failures'], l['failingForMs']])).toEqual([
      ['db.checkpoint_failed', undefined, undefined],
      ['db.checkpoint_failed', 1_201, 60_000],
      ['db.checkpoint_failed_recovered', 2_400, 120_000],
    ]);
    expect(lines[0]?.['reason']).toBe('disk I/O error');
    expect(gate.consecutive).toBe(0);
  });

  it('starts over after a recovery: the next failure is logged at once', () => {
    const { logger, lines } = recordingLogger();
    const gate = new RepeatingFailureLog({ log: logger, event: 'x_failed', now: () => 0 });
    gate.failed('a');
    gate.failed('a');
    gate.succeeded();
    gate.failed('b');
    expect(lines.map((l) => [l['msg'], l['reason']])).toEqual([
      ['x_failed', 'a'],
      ['x_failed_recovered', undefined],
      ['x_failed', 'b'],
    ]);
  });
});
