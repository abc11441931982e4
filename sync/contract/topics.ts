import { LockerId } from './tokens/claims.js';

// Every topic lives under lockers/{lockerId}/ so one broker ACL pattern
// (`pattern readwrite lockers/%u/#`) confines a locker to its own subtree. The suffixes
// are the only ones that exist; topicFor() and parseTopic() are their single spelling.

export const TOPIC_ROOT = 'lockers';

export const topicSuffixes = [
  'presence',
  'health',
  'codes/batch',
  'codes/ack',
  'codes/snapshot-request',
  'audit/upload',
  'audit/ack',
  'cmd',
  'cmd/reply',
] as const;
export type TopicSuffix = (typeof topicSuffixes)[number];

/** Topics a locker subscribes to (the backend publishes there). */
export const lockerInboundSuffixes = ['codes/batch', 'audit/ack', 'cmd'] as const satisfies readonly TopicSuffix[];
export type LockerInboundSuffix = (typeof lockerInboundSuffixes)[number];

/** Topics a locker publishes to (the backend subscribes with `lockers/+/<suffix>`). */
export const lockerOutboundSuffixes = [
  'presence',
  'health',
  'codes/ack',
  'codes/snapshot-request',
  'audit/upload',
  'cmd/reply',
] as const satisfies readonly TopicSuffix[];
export type LockerOutboundSuffix = (typeof lockerOutboundSuffixes)[number];

/** Throws RangeError for an invalid locker id: a topic is never built from unchecked input. */
export function topicFor(lockerId: string, suffix: TopicSuffix): string {
  if (!LockerId.safeParse(lockerId).success) throw new RangeError('invalid locker id for a topic');
  return `${TOPIC_ROOT}/${lockerId}/${suffix}`;
}

/** The subscription filter the backend uses for one suffix across all lockers. */
export function allLockersFilter(suffix: TopicSuffix): string {
  return `${TOPIC_ROOT}/+/${suffix}`;
}

const suffixSet: ReadonlySet<string> = new Set(topicSuffixes);

function isSuffix(value: string): value is TopicSuffix {
  return suffixSet.has(value);
}

/** `{ lockerId, suffix }` for a topic of this contract, or undefined for anything else. */
export function parseTopic(topic: string): { lockerId: string; suffix: TopicSuffix } | undefined {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return undefined;
  const rest = topic.slice(TOPIC_ROOT.length + 1);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const lockerId = rest.slice(0, slash);
  const suffix = rest.slice(slash + 1);
  if (!LockerId.safeParse(lockerId).success || !isSuffix(suffix)) return undefined;
  return { lockerId, suffix };
}
