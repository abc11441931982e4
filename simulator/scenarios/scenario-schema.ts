import { z } from 'zod';
import { parseDuration } from '../commands.js';

// A scenario file: JSON, validated here; the TypeScript types are inferred from the schema.
// Steps are console commands (the same language as the console and the panel) and
// expectations about the typed event stream and the lockers' state. Strings may use
// ${name} for values the runner captured on the way (parcel, compartment, code, …).

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text, false);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 5s or 2m' });
    return z.NEVER;
  }
  return ms;
});

/** A partial match on a session event: every field given must be equal (objects: recursively). */
const eventMatcher = z.record(z.string(), z.unknown()).refine((m) => typeof m['type'] === 'string', 'an event matcher needs a type');

const expectation = z
  .object({
    /** Each must match an event seen (on this locker) since the last mark. */
    events: z.array(eventMatcher).optional(),
    /** At least one must match an event seen since the last mark (either way is right). */
    anyOf: z.array(eventMatcher).min(1).optional(),
    /** None may match an event seen since the last mark. */
    absent: z.array(eventMatcher).optional(),
    /** Exactly this many events matching `matcher` since the last mark. */
    count: z.object({ matcher: eventMatcher, equals: z.number().int().min(0) }).strict().optional(),
    compartment: z
      .object({
        id: z.string(),
        door: z.enum(['open', 'closed', 'unknown']).optional(),
        occupied: z.boolean().optional(),
        outOfService: z.boolean().optional(),
        relayOn: z.boolean().optional(),
      })
      .strict()
      .optional(),
    lockout: z.boolean().optional(),
    online: z.boolean().optional(),
    outboxBacklog: z.union([z.number().int().min(0), z.object({ min: z.number().int().min(0) }).strict()]).optional(),
    /** A regular expression the display's current text must match. */
    display: z.string().optional(),
    /** A regular expression some printed line since the last mark must match. */
    output: z.string().optional(),
  })
  .strict();

const lockerRef = z.string().min(1).max(64).optional();

export const scenarioStep = z.union([
  /** `as`: keep what this command printed (parcel, compartment, …) also as ${<as>.parcel} etc. */
  z.object({ run: z.string().min(1), locker: lockerRef, as: z.string().regex(/^\w+$/).optional() }).strict(),
  z.object({ expect: expectation, within: duration.optional(), locker: lockerRef, note: z.string().optional() }).strict(),
  /** Later expectations look at what happened from here on. */
  z.object({ mark: z.literal(true), locker: lockerRef }).strict(),
]);

export const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** How many of the default lockers the session runs (first n). */
    lockers: z.number().int().min(1).max(3).default(1),
    offline: z.boolean().default(false),
    /** Device config fields for every locker (timeouts, lockout policy), as in a config file's `device`. */
    device: z.record(z.string(), z.unknown()).optional(),
    steps: z.array(scenarioStep).min(1),
    /**
     * A firmware defect this scenario exposes and that is not fixed yet: the suite expects the
     * scenario to FAIL until it is fixed (then remove this field). Say where the defect is.
     */
    knownDefect: z.string().min(1).optional(),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioStep = z.infer<typeof scenarioStep>;
export type Expectation = z.infer<typeof expectation>;
