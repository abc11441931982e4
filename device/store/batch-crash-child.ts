// Child process of batch-crash.test.ts: applies the crash plan's batches one after the
// other on a real file until it is killed. Prints `ready <version>`, then `applying <v>`
// before and `applied <v>` after each batch, so the parent knows where its kill landed.
// Batches go through the sliced apply (decision 0025), as the sync agent sends them, with
// 1 ms slices so most kills land between two staging transactions; every third batch uses
// the one-transaction apply, which must stay crash-safe too.
import { batchFor } from './batch-crash-plan.js';
import { FakeClock, openTestStore } from './store-test-fixtures.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: batch-crash-child.ts <db path>');
const clock = new FakeClock();
const store = openTestStore(path, clock, { batchSliceBudgetMs: 1 });
let version = store.codeSetState().version;
const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
write(`ready ${String(version)}`);
for (;;) {
  const next = version + 1;
  const batch = batchFor(next);
  write(`applying ${String(next)}`);
  const result = next % 3 === 0 ? store.applyCodeBatch(batch) : await store.applyCodeBatchInSlices(batch);
  if (result.outcome !== 'applied') throw new Error(`batch ${String(next)} not applied: ${result.outcome}`);
  version = next;
  clock.advance(1000);
  write(`applied ${String(version)}`);
}
