import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import { chooseCompartment, type CustomerNotice, type DemoParcelSource, type PreparedParcel } from './demo-scenario.js';
import type { LockerSim } from './locker-sim.js';
import { waitUntil } from './wait-for.js';

// The console's way to get real parcels onto the locker: the same source the demo uses
// (the backend, or the in-process issuer when offline) issues a parcel, its courier
// credential and its code. The technician then plays the courier and the customer with
// 'courier', 'scan', 'close' and 'keys'. The customer's code is printed once the backend
// would send it (after the deposit), marked as shown only because this is a simulator.

class DeskClosed extends Error {}

export class ParcelDesk {
  private latest: PreparedParcel | undefined;
  /** What customers received, by parcel id, in arrival order. */
  private readonly notices = new Map<string, CustomerNotice>();
  private closed = false;

  constructor(
    private readonly sim: LockerSim,
    private readonly source: DemoParcelSource,
    private readonly print: (line: string) => void,
    /** How long a parcel may wait for its deposit before the desk stops watching it. */
    private readonly depositWaitMs = 24 * 3_600_000,
  ) {}

  async newParcel(size: CompartmentSize | undefined): Promise<void> {
    const request = chooseCompartment(this.sim, size);
    const parcel = await this.source.prepare(this.sim, request, (line) => this.print(`  ${line}`));
    this.latest = parcel;
    this.print(`parcel ${parcel.parcelId} is assigned to ${parcel.compartmentId}: type 'courier', then 'scan ${parcel.parcelId}'`);
    void this.announceCode(parcel);
  }

  /** Scans the courier credential of the last parcel; false when there is none yet. */
  scanCourierCredential(): boolean {
    if (this.latest === undefined) return false;
    this.sim.control.scanner.scan(this.latest.courierCredential);
    return true;
  }

  /**
   * The customer shows the QR code from their notice (the last one, or for `parcelId`).
   * Returns the parcel id, or undefined when no notice has arrived yet.
   */
  scanCustomerQr(parcelId?: string): string | undefined {
    const id = parcelId ?? [...this.notices.keys()].at(-1);
    const notice = id === undefined ? undefined : this.notices.get(id);
    if (id === undefined || notice === undefined) return undefined;
    this.sim.control.scanner.scan(notice.qrToken);
    return id;
  }

  close(): void {
    this.closed = true;
  }

  private async announceCode(parcel: PreparedParcel): Promise<void> {
    try {
      await waitUntil(() => {
        if (this.closed) throw new DeskClosed();
        const state = this.sim.store.findEntryByTokenId(parcel.pickupTokenId)?.state;
        return state !== undefined && state !== 'awaiting-deposit';
      }, `the deposit of ${parcel.parcelId}`, this.depositWaitMs, 100);
      const notice = await this.source.customerNotice(this.sim, parcel, (line) => this.print(`  ${line}`));
      this.notices.set(parcel.parcelId, notice);
      if (!this.closed) this.print(`customer of ${parcel.parcelId} received code ${notice.code}   (shown only because this is a simulator; 'qr' shows their QR code instead)`);
    } catch (err) {
      if (err instanceof DeskClosed || this.closed) return;
      this.print(`parcel ${parcel.parcelId}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
