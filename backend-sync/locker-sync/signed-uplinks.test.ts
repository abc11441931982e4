import { describe, expect, it } from 'vitest';
import { recordingLogger } from '../testing/recording-logger.js';
import { pauseSignedUplinksWhileUnavailable, type PausableSubscriptions } from './signed-uplinks.js';

// The wiring against a real broker is in shared-subscriptions.mosquitto.test.ts; this is
// what happens when the broker refuses or the connection drops mid-request.

/** A key store's availability, switched by the test. */
function availability(): { keys: { signingAvailable: boolean; onSigningAvailability(l: (a: boolean) => void): void }; set(a: boolean): void } {
  const listeners: Array<(a: boolean) => void> = [];
  const keys = { signingAvailable: true, onSigningAvailability: (l: (a: boolean) => void) => void listeners.push(l) };
  return {
    keys,
    set(a) {
      keys.signingAvailable = a;
      for (const l of listeners) l(a);
    },
  };
}

/** Fails the first `failures` calls, records every call. */
function flakyTransport(failures: number): PausableSubscriptions & { calls: string[]; settled: Promise<void> } {
  let left = failures;
  let done = (): void => undefined;
  const settled = new Promise<void>((resolve) => (done = resolve));
  const call = (op: string) => (): Promise<void> => {
    t.calls.push(op);
    if (left-- > 0) return Promise.reject(new Error('SUBACK failure'));
    done();
    return Promise.resolve();
  };
  const t = { calls: [] as string[], settled, pause: call('pause'), resume: call('resume') };
  return t;
}

describe('signed uplinks follow signing availability', () => {
  it('asks again after a refused request until the broker takes it', async () => {
    const a = availability();
    const transport = flakyTransport(2);
    const { logger, lines } = recordingLogger();
    pauseSignedUplinksWhileUnavailable(a.keys, transport, ['$share/g/lockers/+/audit/upload'], logger, 1);
    a.set(false);
    await transport.settled;
    expect(transport.calls).toEqual(['pause', 'pause', 'pause']);
    expect(lines.filter((l) => l['msg'] === 'mqtt.signed_uplinks_change_failed').map((l) => l['attempt'])).toEqual([1, 2]);
  });

  it('drops a retry whose availability no longer holds', async () => {
    const a = availability();
    const transport = flakyTransport(1);
    pauseSignedUplinksWhileUnavailable(a.keys, transport, ['$share/g/lockers/+/codes/ack'], recordingLogger().logger, 20);
    a.set(false); // refused
    a.set(true); // taken: the pause retry must not undo it
    await transport.settled;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(transport.calls).toEqual(['pause', 'resume']);
  });
});
