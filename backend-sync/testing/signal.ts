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
