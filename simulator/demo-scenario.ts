import type { AuditChainCheck, StoredCodeEntry } from '@locker/device/store/runtime-store.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import { formatEvent } from './event-format.js';
import type { LockerSim } from './locker-sim.js';
import { auditReport } from './status-report.js';
import { DemoStepError, isDisplay, isDoor, isPulse, nextEvent, waitUntil } from './wait-for.js';

// The scripted end-to-end demo: a parcel goes from the backend to a customer's hands
// through the real runtime on simulated hardware, with no input. Every step waits for what
// a person would see (a door opening, a message) and for the state the device persisted,
// so the demo doubles as a smoke test of the whole stack.

/** A compartment the demo would use: free, healthy, door closed. Sources that assign their own may ignore it. */
export interface ParcelRequest {
  compartmentId: string;
  size: CompartmentSize;
}

/** What the demo needs from "the backend": a parcel issued and its code batch on the locker. */
export interface PreparedParcel {
  /** The parcel's barcode, as the courier scans it. */
  parcelId: string;
  compartmentId: string;
  pickupTokenId: string;
  /** The courier's credential (a token): scanned at the locker, never printed. */
  courierCredential: string;
  /** A code that opens nothing, to show a refusal. */
  wrongCode: string;
}

export interface CustomerNotice {
  code: string;
  qrToken: string;
}

export interface DemoParcelSource {
  /** One line: who issues tokens and how the batch reaches the locker. */
  readonly description: string;
  prepare(sim: LockerSim, request: ParcelRequest, say: (line: string) => void): Promise<PreparedParcel>;
  /**
   * What the customer received: the keypad code and the QR code (the pickup token). Asked
   * after the deposit, because that is when a backend sends it. The demo prints the code on
   * purpose, because showing it is the point; the token is never printed.
   */
  customerNotice(sim: LockerSim, parcel: PreparedParcel, say: (line: string) => void): Promise<CustomerNotice>;
  /** A backend that tracks the order: waits until it shows the parcel collected. */
  confirmCollected?(sim: LockerSim, parcel: PreparedParcel, say: (line: string) => void): Promise<void>;
  /** A backend that runs returns: the drop-off code the customer received for `shipmentId`. */
  returnCode?(shipmentId: string): Promise<string>;
  /** When the audit log reaches a backend: waits until it acknowledged `seq` and says so. */
  confirmAuditUpload?(sim: LockerSim, seq: number, say: (line: string) => void): Promise<void>;
}

export interface DemoResult {
  parcelId: string;
  compartmentId: string;
  pickupTokenId: string;
  /** The code the customer typed (tests use it to show it never opens again). */
  code: string;
  auditChain: AuditChainCheck;
}

export interface DemoOptions {
  sim: LockerSim;
  source: DemoParcelSource;
  print: (line: string) => void;
  /** Deadline for each wait. */
  stepTimeoutMs?: number;
}

/** A free, healthy compartment of `size`, or medium if possible (what most parcels need). */
export function chooseCompartment(sim: LockerSim, size?: CompartmentSize): ParcelRequest {
  const candidates = sim.store
    .listCompartments()
    .filter((c) => c.status === 'free' && sim.control.faults(c.id).length === 0 && sim.hardware.doors.read(c.id) === 'closed');
  const chosen = size === undefined ? (candidates.find((c) => c.size === 'M') ?? candidates[0]) : candidates.find((c) => c.size === size);
  if (chosen === undefined) throw new DemoStepError(`no free ${size ?? ''} compartment with a closed, healthy door`.replace('  ', ' '));
  return { compartmentId: chosen.id, size: chosen.size };
}

export async function runDemoScenario(options: DemoOptions): Promise<DemoResult> {
  const { sim, source, print } = options;
  const timeout = options.stepTimeoutMs ?? 5_000;
  const { control, events, store } = sim;
  const total = 9;
  let n = 0;
  const step = (text: string): void => print(`\n[${String(++n)}/${String(total)}] ${text}`);
  const say = (text: string): void => print(`      ${text}`);
  const unsubscribe = events.on((event) => {
    const line = formatEvent(event);
    if (line !== undefined) print(`        · ${line}`);
  });
  const entryState = (tokenId: string, state: StoredCodeEntry['state']) => (): true | undefined =>
    store.findEntryByTokenId(tokenId)?.state === state ? true : undefined;

  try {
    step(`Locker ${sim.lockerId}: ${String(store.listCompartments().length)} compartments, code set version ${String(store.codeSetState().version)}, ${String(store.auditHighWatermark())} audit records so far`);
    say(`tokens come from: ${source.description}`);

    step('A parcel is on its way to this locker: the backend assigns a compartment and issues the tokens');
    const parcel = await source.prepare(sim, chooseCompartment(sim), say);
    const { compartmentId, parcelId } = parcel;
    await waitUntil(entryState(parcel.pickupTokenId, 'awaiting-deposit'), 'the pickup entry on the locker', timeout);
    say(`parcel ${parcelId} goes to compartment ${compartmentId} (${store.getCompartment(compartmentId)?.size ?? '?'})`);
    // The person at the door pulls it as soon as the latch releases.
    const behaviour = control.behaviour(compartmentId);
    control.setBehaviour(compartmentId, { autoOpenOnPulse: true, autoCloseAfterMs: undefined });
    say(`the locker holds code set version ${String(store.codeSetState().version)}; the pickup code is not live until the parcel is in`);

    step('The courier scans the credential');
    const prompt = nextEvent(events, isDisplay('prompt'), 'the courier prompt', timeout);
    control.scanner.scan(parcel.courierCredential);
    await prompt;

    step(`The courier scans the parcel barcode ${parcelId}`);
    const depositOpen = nextEvent(events, isDoor(compartmentId, 'open'), `door ${compartmentId} to open`, timeout);
    control.scanner.scan(parcelId);
    await depositOpen;
    say(`door ${compartmentId} opened for the deposit`);

    step(`The courier puts the parcel in and closes ${compartmentId}`);
    control.closeDoor(compartmentId);
    await waitUntil(entryState(parcel.pickupTokenId, 'live'), 'the deposit to be confirmed (pickup code live)', timeout);
    // The unlock pulse may still be running; a customer arrives later than that anyway.
    await waitUntil(() => !control.energised(compartmentId), `the relay of ${compartmentId} to switch off`, timeout);
    say('deposit confirmed: the pickup code is live');
    const ended = nextEvent(events, isDisplay('idle'), 'the courier session to end', timeout);
    control.keypad.press('C');
    await ended;
    const { code } = await source.customerNotice(sim, parcel, say);

    step('A customer types a wrong code');
    let pulsed: string | undefined;
    const watchPulses = events.on((event) => {
      if (event.type === 'pulse') pulsed = event.compartmentId;
    });
    const refused = nextEvent(events, isDisplay('error'), 'the refusal', timeout);
    control.keypad.press(`${parcel.wrongCode}#`);
    const refusal = await refused.finally(watchPulses);
    if (pulsed !== undefined) throw new DemoStepError(`a wrong code pulsed the relay of ${pulsed}`);
    say(`refused ("${refusal.message.text}"), no relay pulsed`);

    step(`The customer types the code they received: ${code}   (printed only because this is a demo)`);
    const pickupPulse = nextEvent(events, isPulse(), 'a relay pulse', timeout);
    const pickupOpen = nextEvent(events, isDoor(compartmentId, 'open'), `door ${compartmentId} to open`, timeout);
    control.keypad.press(`${code}#`);
    const pulse = await pickupPulse;
    if (pulse.compartmentId !== compartmentId) throw new DemoStepError(`the code pulsed ${pulse.compartmentId}, not ${compartmentId}`);
    await pickupOpen;
    await waitUntil(entryState(parcel.pickupTokenId, 'collected'), 'the parcel to be marked collected', timeout);
    say(`door ${compartmentId} opened and the parcel is marked collected`);
    await source.confirmCollected?.(sim, parcel, say);

    step(`The customer takes the parcel and closes ${compartmentId}`);
    control.closeDoor(compartmentId);
    await waitUntil(() => store.getCompartment(compartmentId)?.status === 'free', `${compartmentId} to be free again`, timeout);
    control.setBehaviour(compartmentId, behaviour);
    say(`${compartmentId} is free again`);

    step('The audit log (what happened, hash-chained, no codes or tokens)');
    for (const line of auditReport(sim, 8)) say(line);
    const auditChain = store.verifyAuditChain();
    say(
      auditChain.ok
        ? `audit chain verified: VALID, ${String(auditChain.records)} records (seq ${String(auditChain.firstSeq)}..${String(auditChain.lastSeq)})`
        : `audit chain verification FAILED at seq ${String(auditChain.brokenAtSeq)} (${auditChain.reason})`,
    );
    await source.confirmAuditUpload?.(sim, store.auditHighWatermark(), say);
    print('\nDemo complete: parcel deposited by the courier and collected by the customer.');
    return { parcelId, compartmentId, pickupTokenId: parcel.pickupTokenId, code, auditChain };
  } finally {
    unsubscribe();
  }
}
