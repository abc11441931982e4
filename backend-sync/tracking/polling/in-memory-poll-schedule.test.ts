import { InMemoryPollSchedule } from './in-memory-poll-schedule.js';
import { describePollScheduleContract } from './poll-schedule-port.suite.js';

describePollScheduleContract('in memory', () => {
  const schedule = new InMemoryPollSchedule();
  return Promise.resolve({ schedule, inspect: (tn: string) => Promise.resolve(pick(schedule.get(tn))) });
});

function pick(e: ReturnType<InMemoryPollSchedule['get']>) {
  return e === undefined ? undefined : { nextPollAt: e.nextPollAt, failures: e.failures, mode: e.mode, leaseUntil: e.leaseUntil };
}
