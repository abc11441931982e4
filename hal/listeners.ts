import type { Unsubscribe } from './types.js';

/**
 * A tiny listener set. A throwing listener must not stop the driver or the other
 * listeners (a bug in one consumer cannot blind the door supervisor), so errors are handed
 * to `onListenerError` instead of propagating into the driver's event loop.
 */
export class Listeners<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {}

  add(listener: (value: T) => void): Unsubscribe {
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const entry = (value: T): void => listener(value);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}
