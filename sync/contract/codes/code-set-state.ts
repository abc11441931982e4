/** Which code set a locker holds: both sides compare it to decide on a delta or a snapshot. */
export interface CodeSetState {
  version: number;
  /** See code-set-digest.ts. */
  digest: string;
}
