/** A one-shot signal for tests that hold one party at a point while another acts: `wait` resolves once `fire` was called. */
export interface Signal {
  wait: Promise<void>;
  fire(): void;
}

export function signal(): Signal {
  let fire = (): void => undefined;
  const wait = new Promise<void>((resolve) => (fire = resolve));
  return { wait, fire };
}

type AsyncMethodKeys<T> = { [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T];

/**
 * Holds the next call of `target[method]` (for which `when` holds) right after it ran:
 * `reached` fires then, and the call returns once `release` fires. Other calls, and every
 * call after it, go through untouched.
 */
export function holdNextCall<T extends object, K extends AsyncMethodKeys<T>>(
  target: T,
  method: K,
  when: (...args: Parameters<Extract<T[K], (...args: never[]) => unknown>>) => boolean = () => true,
): { reached: Signal; release: Signal } {
  const reached = signal();
  const release = signal();
  const original = target[method] as (...args: unknown[]) => Promise<unknown>;
  const bound = original.bind(target);
  const held = async (...args: unknown[]): Promise<unknown> => {
    const got = await bound(...args);
    if (!(when as (...a: unknown[]) => boolean)(...args)) return got;
    target[method] = original as T[K];
    reached.fire();
    await release.wait;
    return got;
  };
  target[method] = held as T[K];
  return { reached, release };
}
