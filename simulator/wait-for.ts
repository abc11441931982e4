import { setTimeout as sleep } from 'node:timers/promises';
import type { EventFeed, SimEvent } from './sim-events.js';

// The demo drives a runtime that reacts asynchronously (debounce, pulses, timers), so it
// waits for observable outcomes instead of sleeping for guessed durations. Every wait has
// a deadline and says what it waited for: a stuck demo fails with a reason, never hangs.

export class DemoStepError extends Error {
  override readonly name = 'DemoStepError';
}

/** Polls `check` (a store read, a driver read, an HTTP GET) until it returns a value or time runs out. */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 5_000,
  everyMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new DemoStepError(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Resolves with the first event matching `match` emitted from now on. Call it before the
 * action that causes the event, then await it.
 */
export function nextEvent<E extends SimEvent>(
  feed: EventFeed,
  match: (event: SimEvent) => event is E,
  what: string,
  timeoutMs = 5_000,
): Promise<E> {
  return new Promise<E>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new DemoStepError(`timed out after ${String(timeoutMs)} ms waiting for ${what}`));
    }, timeoutMs);
    const unsubscribe = feed.on((event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}

export const isDoor = (compartmentId: string, state: 'open' | 'closed') =>
  (event: SimEvent): event is Extract<SimEvent, { type: 'door' }> =>
    event.type === 'door' && event.compartmentId === compartmentId && event.state === state;

export const isPulse = (compartmentId?: string) =>
  (event: SimEvent): event is Extract<SimEvent, { type: 'pulse' }> =>
    event.type === 'pulse' && (compartmentId === undefined || event.compartmentId === compartmentId);

export const isDisplay = (tone: 'idle' | 'prompt' | 'progress' | 'success' | 'error' | 'alarm') =>
  (event: SimEvent): event is Extract<SimEvent, { type: 'display' }> => event.type === 'display' && event.message.tone === tone;
