import type { Delivery } from '@locker/sync-testing/multi-instance/webhook-sink.js';

// What the customers received, read from the fleet's webhook sink: the pickup code per
// shipment, and for the summary, notification ids per subject (kind + order or shipment),
// so a subject notified under two ids is a duplicate and an expected subject never
// notified is lost. A redelivery of the same id is neither (at-least-once delivery).

export class NoticeBook {
  private cursor = 0;
  private readonly idsBySubject = new Map<string, Set<string>>();
  private readonly codes = new Map<string, string>();
  private readonly kinds = new Map<string, number>();

  constructor(private readonly deliveries: readonly Delivery[]) {}

  private catchUp(): void {
    for (; this.cursor < this.deliveries.length; this.cursor++) {
      const d = this.deliveries[this.cursor];
      if (d === undefined) continue;
      const subject = subjectOf(d.kind, idOf(d.payload['shipmentId']) ?? idOf(d.payload['orderId']) ?? '');
      const ids = this.idsBySubject.get(subject) ?? new Set<string>();
      ids.add(d.id);
      this.idsBySubject.set(subject, ids);
      this.kinds.set(d.kind, (this.kinds.get(d.kind) ?? 0) + 1);
      const code = d.payload['code'];
      const shipmentId = idOf(d.payload['shipmentId']);
      if (d.kind === 'parcel.ready_for_pickup' && typeof code === 'string' && shipmentId !== undefined) this.codes.set(shipmentId, code);
    }
  }

  /** The code the customer received for a shipment, once the ready-for-pickup notice came. */
  codeFor(shipmentId: string): string | undefined {
    this.catchUp();
    return this.codes.get(shipmentId);
  }

  has(kind: string, id: string): boolean {
    this.catchUp();
    return this.idsBySubject.has(subjectOf(kind, id));
  }

  /** Subjects notified under more than one notification id. */
  duplicatedSubjects(): number {
    this.catchUp();
    let n = 0;
    for (const ids of this.idsBySubject.values()) if (ids.size > 1) n++;
    return n;
  }

  /** Deliveries by kind (redeliveries included). */
  countsByKind(): Record<string, number> {
    this.catchUp();
    return Object.fromEntries(this.kinds);
  }
}

const idOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const subjectOf = (kind: string, id: string): string => `${kind}:${id}`;
