import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import { remoteOpen, requestReturn, retrievalToken, shipmentState } from './backend-calls.js';
import { chooseCompartment, type CustomerNotice, type DemoParcelSource, type PreparedParcel } from './demo-scenario.js';
import type { DemoIssuer } from './demo-issuer.js';
import type { LockerSim } from './locker-sim.js';
import type { BackendApi } from './sim-network.js';
import { waitUntil } from './wait-for.js';

// The console's way to get real parcels onto the locker and to play everyone around it:
// the same source the demo uses (the backend, or the in-process issuer when offline)
// issues a parcel, its courier credential and its code; the backend API issues retrieval
// tokens, starts returns and sends remote opens; the backend's signing key (embedded
// backend only) issues a technician's service credential. The technician then plays the
// courier and the customer with 'courier', 'scan', 'close' and 'keys'. A customer's code
// is printed once the backend would send it, marked as shown only because this is a simulator.

class DeskClosed extends Error {}

export interface ParcelDeskOptions {
  /** The backend API (retrieval tokens, returns, remote opens); undefined offline. */
  api?: BackendApi | undefined;
  /** Signs service credentials with the backend's key (embedded backend or offline). */
  issuer?: (() => DemoIssuer) | undefined;
  /** How long a parcel may wait for its deposit before the desk stops watching it. */
  depositWaitMs?: number;
}

/** What a customer received for a parcel: the code and the QR token (secrets; a simulator shows them). */
export interface ReceivedNotice extends CustomerNotice {
  parcelId: string;
  kind: 'pickup' | 'return-dropoff';
}

export class ParcelDesk {
  private latest: PreparedParcel | undefined;
  /** What customers received, by parcel id, in arrival order. */
  private readonly notices = new Map<string, ReceivedNotice>();
  private closed = false;
  private readonly depositWaitMs: number;

  constructor(
    private readonly sim: LockerSim,
    private readonly source: DemoParcelSource,
    private readonly print: (line: string) => void,
    private readonly options: ParcelDeskOptions = {},
  ) {
    this.depositWaitMs = options.depositWaitMs ?? 24 * 3_600_000;
  }

  async newParcel(size: CompartmentSize | undefined): Promise<PreparedParcel> {
    const request = chooseCompartment(this.sim, size);
    const parcel = await this.source.prepare(this.sim, request, (line) => this.print(`  ${line}`));
    this.latest = parcel;
    this.print(`parcel ${parcel.parcelId} is assigned to ${parcel.compartmentId}: type 'courier', then 'scan ${parcel.parcelId}'`);
    void this.announceCode(parcel);
    return parcel;
  }

  /** Scans the courier credential of the last parcel; false when there is none yet. */
  scanCourierCredential(): boolean {
    if (this.latest === undefined) return false;
    this.sim.control.scanner.scan(this.latest.courierCredential);
    return true;
  }

  /** The last parcel issued here (its id and compartment; the credential is never shown). */
  lastParcel(): { parcelId: string; compartmentId: string } | undefined {
    return this.latest === undefined ? undefined : { parcelId: this.latest.parcelId, compartmentId: this.latest.compartmentId };
  }

  /** What customers received so far, oldest first. */
  received(): readonly ReceivedNotice[] {
    return [...this.notices.values()];
  }

  /**
   * The customer shows the QR code from their notice (the last one, or for `parcelId`).
   * Returns the parcel id, or undefined when no notice has arrived yet.
   */
  scanCustomerQr(parcelId?: string): string | undefined {
    const id = parcelId ?? [...this.notices.values()].filter((n) => n.kind === 'pickup').at(-1)?.parcelId;
    const notice = id === undefined ? undefined : this.notices.get(id);
    if (id === undefined || notice === undefined) return undefined;
    this.sim.control.scanner.scan(notice.qrToken);
    return id;
  }

  /**
   * A courier comes for an expired (or returned) parcel: the backend issues the
   * return-retrieval token and the courier scans it. Default: a parcel the locker holds expired.
   */
  async retrieve(parcelId?: string): Promise<string> {
    const api = this.requireApi('a retrieval token');
    const id = parcelId ?? this.expiredParcels().at(-1);
    if (id === undefined) throw new Error("no expired parcel in this locker ('expire' first, or name the parcel)");
    // The backend flags the parcel by its own sweep or from the locker's uploaded expiry;
    // a courier app asked before that is refused, so give it a moment (the request then says why).
    const retrievable = new Set(['expired', 'return_dropped']);
    await waitUntil(async () => (retrievable.has(await shipmentState(api, id)) ? true : undefined), `the backend to flag ${id} for retrieval`, 10_000, 100).catch(() => undefined);
    const issued = await retrievalToken(api, id, 'courier-sim');
    this.print(`backend issued a return-retrieval token for ${id} (compartment ${issued.compartmentId}); the courier scans it`);
    this.sim.control.scanner.scan(issued.token);
    return id;
  }

  /** The customer starts a return of a collected parcel; the backend sends a drop-off code. */
  async startReturn(parcelId?: string): Promise<string> {
    const api = this.requireApi('a return');
    const id = parcelId ?? [...this.notices.values()].filter((n) => n.kind === 'pickup').at(-1)?.parcelId;
    if (id === undefined) throw new Error('no collected parcel known to this console: name the parcel');
    // The backend learns of the pickup from the uploaded audit log; a return asked for
    // before that is refused, so give the upload a moment (the request then says why).
    await waitUntil(async () => ((await shipmentState(api, id)) === 'collected' ? true : undefined), `the backend to see ${id} collected`, 10_000, 100).catch(() => undefined);
    const state = await requestReturn(api, id, this.sim.lockerId);
    this.print(`backend: shipment ${id} is now '${state}', a compartment is reserved for the drop-off`);
    if (this.source.returnCode === undefined) {
      this.print('this backend does not show the drop-off code to the simulator');
      return id;
    }
    const code = await this.source.returnCode(id);
    this.notices.set(`return:${id}`, { parcelId: id, kind: 'return-dropoff', code, qrToken: '' });
    this.print(`customer received drop-off code ${code} for ${id}   (shown only because this is a simulator): type it with 'keys ${code}#'`);
    return code;
  }

  /** The backend sends a remote open over MQTT; resolves with the locker's reply. */
  async remoteOpen(compartmentId: string): Promise<string> {
    const api = this.requireApi('a remote open');
    const view = await remoteOpen(api, this.sim.lockerId, compartmentId, 15_000);
    return `remote open ${view.transactionId}: ${view.state}${view.reply === undefined ? '' : ` ${JSON.stringify(view.reply)}`}`;
  }

  /** A technician scans a service credential for `compartmentId` (signed with the backend's key). */
  serviceOpen(compartmentId: string): void {
    const issuer = this.options.issuer;
    if (issuer === undefined) throw new Error('service credentials need the backend signing key (embedded backend or --offline)');
    this.sim.control.scanner.scan(issuer().serviceCredential(compartmentId, 'technician-sim'));
  }

  close(): void {
    this.closed = true;
  }

  private expiredParcels(): string[] {
    const ids: string[] = [];
    for (const c of this.sim.store.listCompartments()) {
      for (const e of this.sim.store.findEntriesInCompartment(c.id)) if (e.state === 'expired' && !ids.includes(e.parcelId)) ids.push(e.parcelId);
    }
    return ids;
  }

  private requireApi(what: string): BackendApi {
    if (this.options.api === undefined) throw new Error(`${what} needs the backend (this locker is offline)`);
    return this.options.api;
  }

  private async announceCode(parcel: PreparedParcel): Promise<void> {
    try {
      await waitUntil(() => {
        if (this.closed) throw new DeskClosed();
        // During a power cut the store is closed: keep waiting for the locker to come back.
        if (!this.sim.running) return undefined;
        const state = this.sim.store.findEntryByTokenId(parcel.pickupTokenId)?.state;
        return state !== undefined && state !== 'awaiting-deposit';
      }, `the deposit of ${parcel.parcelId}`, this.depositWaitMs, 100);
      const notice = await this.source.customerNotice(this.sim, parcel, (line) => this.print(`  ${line}`));
      this.notices.set(parcel.parcelId, { ...notice, parcelId: parcel.parcelId, kind: 'pickup' });
      if (!this.closed) this.print(`customer of ${parcel.parcelId} received code ${notice.code}   (shown only because this is a simulator; 'qr' shows their QR code instead)`);
    } catch (err) {
      if (err instanceof DeskClosed || this.closed) return;
      this.print(`parcel ${parcel.parcelId}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
