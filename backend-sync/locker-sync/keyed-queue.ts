// Runs tasks one at a time per key, in the order they were queued; tasks of different keys
// run concurrently. The bridge keys by locker, so one locker's messages are handled in the
// order they arrived (an offline presence never overtakes the online one before it) while
// a slow locker holds up no other.

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** True while any task is queued or running. */
  get busy(): boolean {
    return this.tails.size > 0;
  }

  /** Resolves when every task queued so far, and any they queued, has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
