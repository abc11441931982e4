import { z } from 'zod';

// The events the panel streams, as one zod schema: the same union as the simulator
// session's typed events (simulator/session-events.ts on the sim-core branch), plus the
// words the session's one formatter gives each event (`words`), so the page shows exactly
// what the console prints and never words an event itself. The schema is the wire
// contract of the SSE stream: the server checks every event against it before sending.

export const SimFaultName = z.enum([
  'door-jammed', 'stuck-relay', 'relay-dead', 'sensor-dead', 'sensor-bouncing', 'sensor-stuck-closed', 'forced-open',
]);
export type SimFaultName = z.infer<typeof SimFaultName>;

export const AlarmKind = z.enum([
  'door-jammed', 'relay-fault', 'sensor-unknown', 'left-open', 'uncommanded-open', 'out-of-service', 'open-unknown', 'suspicious-code', 'clock-jump',
]);
export type AlarmKind = z.infer<typeof AlarmKind>;

export const DoorState = z.enum(['open', 'closed', 'unknown']);
export const CompartmentStatus = z.enum(['free', 'occupied', 'out-of-service']);
export const DisplayTone = z.enum(['idle', 'prompt', 'progress', 'success', 'error', 'alarm']);
// Limits are generous on purpose: they guard the stream against garbage, not the wording.
export const DisplayMessage = z.object({ tone: DisplayTone, text: z.string().max(1_000), compartmentId: z.string().optional() });
export type DisplayMessage = z.infer<typeof DisplayMessage>;

/** How the session words an event: the console's tag column, the text, and how loud it is. */
export const EventWords = z.object({
  tag: z.string().max(16),
  text: z.string().max(2_000),
  /** 'alarm': a fault or alarm (announced); 'info': a console line; 'detail': the stream only. */
  level: z.enum(['alarm', 'info', 'detail']),
});
export type EventWords = z.infer<typeof EventWords>;

const compartmentId = z.string().min(1).max(32);

export const PanelEventBody = z.discriminatedUnion('type', [
  z.object({ type: z.literal('door'), compartmentId, state: DoorState }),
  z.object({
    type: z.literal('relay'), compartmentId, state: z.enum(['on', 'off']),
    ms: z.number().int().nonnegative().optional(), latchReleased: z.boolean().optional(), doorBlocked: z.boolean().optional(),
  }),
  z.object({ type: z.literal('relay-failed'), compartmentId, energised: z.boolean() }),
  z.object({ type: z.literal('fault'), compartmentId, fault: SimFaultName, active: z.boolean() }),
  z.object({ type: z.literal('alarm'), compartmentId: compartmentId.optional(), alarm: AlarmKind, active: z.boolean(), detail: z.string().max(1_000).optional() }),
  z.object({ type: z.literal('reslot'), parcelId: z.string().optional(), from: compartmentId, to: compartmentId, reason: z.string().max(1_000).optional() }),
  z.object({ type: z.literal('audit'), seq: z.number().int().nonnegative(), auditType: z.string().max(128), lane: z.string().max(32), data: z.record(z.string(), z.unknown()) }),
  z.object({ type: z.literal('compartment'), compartmentId, status: CompartmentStatus, parcelId: z.string().optional() }),
  z.object({ type: z.literal('online'), online: z.boolean() }),
  z.object({ type: z.literal('code-set'), version: z.number().int().nonnegative() }),
  z.object({ type: z.literal('outbox'), backlog: z.number().int().nonnegative() }),
  z.object({ type: z.literal('lockout'), active: z.boolean(), until: z.number().optional(), failures: z.number().int().nonnegative() }),
  z.object({ type: z.literal('display'), message: DisplayMessage }),
  z.object({ type: z.literal('beep'), pattern: z.enum(['key', 'success', 'error', 'alarm']) }),
  z.object({
    type: z.literal('input-rejected'),
    rejection: z.object({ source: z.enum(['keypad', 'scanner']), reason: z.string().max(32), length: z.number().int().nonnegative(), at: z.number().optional() }),
  }),
  z.object({ type: z.literal('power'), state: z.enum(['off', 'on']) }),
  z.object({ type: z.literal('network'), state: z.enum(['up', 'down']) }),
  z.object({ type: z.literal('clock'), wallMs: z.number(), advancedMs: z.number().optional(), wallSkewMs: z.number().optional() }),
  z.object({ type: z.literal('notice'), text: z.string().max(2_000) }),
]);
export type PanelEventBody = z.infer<typeof PanelEventBody>;

/** One event of one locker, with the session's words for it (absent: not worth any). */
export const PanelEvent = z.intersection(
  PanelEventBody,
  z.object({ lockerId: z.string().min(1).max(64), at: z.number(), words: EventWords.optional() }),
);
export type PanelEvent = z.infer<typeof PanelEvent>;

/** What the SSE stream carries under `event: sim`: the event with its stream id. */
export const StreamedEvent = z.object({ id: z.number().int().positive(), event: PanelEvent });
export type StreamedEvent = z.infer<typeof StreamedEvent>;
