import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DEFAULT_LOCKERS, parseSessionConfig } from '../sim-config.js';
import { SimSession, type LockerView, type SessionEvent } from '../sim-session.js';
import type { Expectation, Scenario, ScenarioStep } from './scenario-schema.js';

// Plays a scenario on a fresh SimSession: each step is a console command or an
// expectation, polled until it holds or its deadline passes (no fixed sleeps: time the
// device waits for, such as a jam timeout, is moved forward with 'clock forward'). Values
// printed on the way (the parcel id, its compartment, the customer's code, the compartment
// of a re-slot) are captured and substituted into later steps as ${name}.

export interface StepReport {
  index: number;
  step: string;
  ok: boolean;
  /** Printed lines of a command, or why an expectation failed. */
  detail: string[];
}

export interface ScenarioResult {
  name: string;
  ok: boolean;
  steps: StepReport[];
}

export interface RunScenarioOptions {
  dataDir: string;
  logger: Logger;
  /** Progress as it happens (the CLI prints it). */
  print?: (line: string) => void;
  /** Default deadline of an expectation. */
  defaultWithinMs?: number;
}

const captures: ReadonlyArray<{ pattern: RegExp; names: readonly string[] }> = [
  { pattern: /parcel (\S+) is assigned to (\S+):/, names: ['parcel', 'compartment'] },
  { pattern: /customer of (\S+) received code (\d+)/, names: ['collectedParcel', 'code'] },
  { pattern: /received drop-off code (\d+)/, names: ['dropoffCode'] },
];

export async function runScenario(scenario: Scenario, options: RunScenarioOptions): Promise<ScenarioResult> {
  const print = options.print ?? (() => undefined);
  const config = parseSessionConfig({
    ...(scenario.device === undefined ? {} : { device: scenario.device }),
    lockers: DEFAULT_LOCKERS.slice(0, scenario.lockers).map((l) => ({ lockerId: l.lockerId, site: { ...l.site } })),
  });
  const session = await SimSession.start({ config, dataDir: options.dataDir, logger: options.logger, sync: !scenario.offline, say: () => undefined });
  const vars = new Map<string, string>();
  const seen = new Map<string, SessionEvent[]>();
  const output = new Map<string, string[]>();
  const first = session.lockerIds()[0] ?? '';
  vars.set('locker', first);
  const capture = (lockerId: string, line: string): void => {
    output.get(lockerId)?.push(line);
    for (const { pattern, names } of captures) {
      const match = pattern.exec(line);
      if (match !== null) names.forEach((name, i) => vars.set(name, match[i + 1] ?? ''));
    }
  };
  for (const id of session.lockerIds()) {
    seen.set(id, []);
    output.set(id, []);
  }
  const unsubscribe = session.subscribe((event) => {
    seen.get(event.lockerId)?.push(event);
    if (event.type === 'notice') capture(event.lockerId, event.text);
    if (event.type === 'reslot') vars.set('reslot', event.to);
  });
  const steps: StepReport[] = [];
  try {
    for (const [index, step] of scenario.steps.entries()) {
      const lockerId = resolveLocker(session, step.locker === undefined ? first : substitute(step.locker, vars));
      const report = await runStep(session, step, lockerId, { vars, seen, output, capture, withinMs: options.defaultWithinMs ?? 5_000 });
      steps.push({ index, ...report });
      print(`${report.ok ? 'ok  ' : 'FAIL'} ${String(index + 1).padStart(2)}. ${report.step}`);
      for (const line of report.detail) print(`         ${line}`);
      if (!report.ok) return { name: scenario.name, ok: false, steps };
    }
    return { name: scenario.name, ok: true, steps };
  } finally {
    unsubscribe();
    await session.close();
  }
}

interface StepContext {
  vars: Map<string, string>;
  seen: Map<string, SessionEvent[]>;
  output: Map<string, string[]>;
  capture: (lockerId: string, line: string) => void;
  withinMs: number;
}

async function runStep(session: SimSession, step: ScenarioStep, lockerId: string, context: StepContext): Promise<Omit<StepReport, 'index'>> {
  const { vars } = context;
  const missing = unresolved(step, vars);
  if (missing.length > 0) return { step: JSON.stringify(step), ok: false, detail: [`nothing captured yet for ${missing.map((m) => `\${${m}}`).join(', ')}`] };
  if ('run' in step) {
    const line = substitute(step.run, vars);
    const before = new Map(vars);
    const lines = await session.run(lockerId, line);
    for (const l of lines) context.capture(lockerId, l);
    if (step.as !== undefined) {
      for (const [name, value] of vars) if (!name.includes('.') && before.get(name) !== value) vars.set(`${step.as}.${name}`, value);
    }
    const failed = lines.find((l) => l.startsWith('error:'));
    return { step: `${lockerId}> ${line}`, ok: failed === undefined, detail: lines };
  }
  if ('mark' in step) {
    context.seen.set(lockerId, []);
    context.output.set(lockerId, []);
    return { step: `${lockerId}: mark`, ok: true, detail: [] };
  }
  const expectation = substituteDeep(step.expect, vars) as Expectation;
  const within = step.within ?? context.withinMs;
  const deadline = Date.now() + within;
  let failures: string[] = [];
  for (;;) {
    session.poll();
    failures = check(session.locker(lockerId), context.seen.get(lockerId) ?? [], context.output.get(lockerId) ?? [], expectation);
    if (failures.length === 0 || Date.now() >= deadline) break;
    await sleep(25);
  }
  const label = `${lockerId}: expect ${step.note ?? JSON.stringify(expectation)}${step.within === undefined ? '' : ` within ${String(within)} ms`}`;
  if (failures.length === 0) return { step: label, ok: true, detail: [] };
  const recent = (context.seen.get(lockerId) ?? []).slice(-12).map((e) => session.describe(e)).filter((d) => d !== undefined).map((d) => `seen: ${d.tag} ${d.text}`);
  return { step: label, ok: false, detail: [...failures, ...recent] };
}

/** What does not hold (empty: the expectation is met). */
export function check(locker: LockerView, events: readonly SessionEvent[], output: readonly string[], e: Expectation): string[] {
  const failures: string[] = [];
  for (const matcher of e.events ?? []) {
    if (!events.some((event) => matches(event, matcher))) failures.push(`no event ${JSON.stringify(matcher)}`);
  }
  if (e.anyOf !== undefined && !events.some((event) => e.anyOf?.some((matcher) => matches(event, matcher)))) {
    failures.push(`none of ${JSON.stringify(e.anyOf)}`);
  }
  for (const matcher of e.absent ?? []) {
    const hit = events.find((event) => matches(event, matcher));
    if (hit !== undefined) failures.push(`unexpected event ${JSON.stringify(hit)}`);
  }
  if (e.count !== undefined) {
    const n = events.filter((event) => matches(event, e.count?.matcher ?? {})).length;
    if (n !== e.count.equals) failures.push(`${String(n)} events ${JSON.stringify(e.count.matcher)}, expected ${String(e.count.equals)}`);
  }
  if (e.compartment !== undefined) {
    const want = e.compartment;
    const c = locker.compartments.find((x) => x.id === want.id);
    if (c === undefined) failures.push(`no compartment ${want.id}`);
    else {
      for (const key of ['door', 'occupied', 'outOfService', 'relayOn'] as const) {
        if (want[key] !== undefined && c[key] !== want[key]) failures.push(`${want.id}.${key} is ${String(c[key])}, expected ${String(want[key])}`);
      }
    }
  }
  if (e.lockout !== undefined && (locker.lockout?.active ?? false) !== e.lockout) failures.push(`lockout active is ${String(locker.lockout?.active)}, expected ${String(e.lockout)}`);
  if (e.online !== undefined && locker.online !== e.online) failures.push(`online is ${String(locker.online)}, expected ${String(e.online)}`);
  if (e.outboxBacklog !== undefined) {
    const want = e.outboxBacklog;
    const ok = typeof want === 'number' ? locker.outboxBacklog === want : locker.outboxBacklog >= want.min;
    if (!ok) failures.push(`outbox backlog is ${String(locker.outboxBacklog)}, expected ${JSON.stringify(want)}`);
  }
  if (e.display !== undefined && !new RegExp(e.display).test(locker.display?.text ?? '')) failures.push(`display shows '${locker.display?.text ?? ''}', expected /${e.display}/`);
  if (e.output !== undefined) {
    const pattern = new RegExp(e.output);
    if (!output.some((l) => pattern.test(l))) failures.push(`no printed line matches /${e.output}/`);
  }
  return failures;
}

/** Every field of `matcher` equals the event's (objects recursively, extra event fields ignored). */
export function matches(value: unknown, matcher: unknown): boolean {
  if (typeof matcher !== 'object' || matcher === null) return value === matcher;
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return Object.entries(matcher as Record<string, unknown>).every(([key, want]) => matches(record[key], want));
}

function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{([\w.]+)\}/g, (whole, name: string) => vars.get(name) ?? whole);
}

/** Names a step uses that have no value yet: such a step must fail, never match loosely. */
function unresolved(step: ScenarioStep, vars: ReadonlyMap<string, string>): string[] {
  const names = [...JSON.stringify(step).matchAll(/\$\{([\w.]+)\}/g)].map((m) => m[1] ?? '');
  return [...new Set(names)].filter((name) => !vars.has(name));
}

function substituteDeep(value: unknown, vars: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return substitute(value, vars);
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, vars));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, vars)]));
  return value;
}

function resolveLocker(session: SimSession, ref: string): string {
  const id = session.resolveLockerId(ref);
  if (id === undefined) throw new Error(`scenario names an unknown locker '${ref}'`);
  return id;
}
