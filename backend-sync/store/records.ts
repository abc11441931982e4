import type { CompartmentSize, DeviceHealthWire } from '../shared/contract.js';
import type { OrderState } from '../orders/order-state-machine.js';
import type { ShipmentState } from '../orders/shipment-state-machine.js';

// The rows the store hands back, as plain objects independent of SQL. A PostgreSQL store
// returns the same shapes.

export type ReservationStatus = 'held' | 'confirmed' | 'released' | 'expired' | 'consumed';

export interface ReservationRecord {
  id: string;
  orderRef: string;
  lockerId: string;
  size: CompartmentSize;
  compartmentId: string;
  status: ReservationStatus;
  expiresAt: number;
  orderId?: string;
  shipmentId?: string;
  createdAt: number;
}

export interface Customer {
  name: string;
  email?: string | undefined;
  phone?: string | undefined;
  customerId?: string | undefined;
}

export interface OrderRecord {
  id: string;
  state: OrderState;
  customer: Customer;
  totalCents: number;
  currency: string;
  paymentRef?: string;
  /** Captures the provider declined (absent: none); each declined attempt's key is spent, the next uses a new one. */
  declinedCaptures?: number;
  /**
   * A capture sent under the key of this many declines whose answer is not recorded (absent:
   * none). The provider may have taken the money; it is asked again under the same key.
   */
  capturePending?: number;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface OrderLineRecord {
  orderId: string;
  lineId: string;
  sku: string;
  quantity: number;
  unitPriceCents: number;
  size: CompartmentSize;
  state: 'open' | 'cancelled';
  shipmentId?: string;
}

export interface ShipmentRecord {
  id: string;
  orderId: string;
  state: ShipmentState;
  carrier: string;
  trackingNumber: string;
  reservationId?: string;
  lockerId?: string;
  compartmentId?: string;
  size?: CompartmentSize;
  pickupTokenId?: string;
  codeDigest?: string;
  pickupDeadline?: number;
  returnTokenId?: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface StateLogEntry {
  entity: 'order' | 'shipment' | 'reservation' | 'refund' | 'compartment';
  entityId: string;
  from?: string;
  to: string;
  event: string;
  actor: string;
  reason?: string | undefined;
  at: number;
}

export interface RefundRecord {
  id: string;
  orderId: string;
  amountCents: number;
  state: 'pending' | 'succeeded' | 'failed';
  reason: string;
  providerRef?: string;
  createdAt: number;
  /** Times an operator sent it again after the provider declined it (absent: never); each retry pays under a new key. */
  retries?: number;
  /** Calls in a row whose answer was lost (absent: none): the next one waits longer, under the same key. */
  unanswered?: number;
  /** The provider's decline, or the error of the last call whose answer was lost. */
  lastError?: string;
}

export interface CodeEntryRecord {
  lockerId: string;
  tokenId: string;
  token: string;
  codeDigest?: string;
  parcelId: string;
  compartmentId: string;
  size: CompartmentSize;
  kind: 'pickup' | 'return-dropoff';
  shipmentId?: string;
  kid: string;
  expiresAt: number;
  addedVersion: number;
  revokedVersion?: number;
  revokeReason?: string;
}

export interface CodeSetRecord {
  lockerId: string;
  version: number;
  digest: string;
  ackedVersion: number;
  ackedDigest?: string;
  publishedVersion: number;
  keyringSentHash?: string;
  keyringSentVersion?: number;
  /** Kids the locker is known to trust: the keyring of the last batch it acknowledged applying. */
  trustedKids: string[];
  /**
   * Deltas are cut only from this version on: revoked entries up to it were deleted
   * (retention), so a locker further behind gets a snapshot.
   */
  deltaFloor: number;
}

export interface AuditRecordRow {
  lockerId: string;
  /** The device database the record comes from (docs/decisions/0023); seqs restart per epoch. */
  epoch: string;
  seq: number;
  at: number;
  type: string;
  lane: string;
  dataJson: string;
  prevHash: string;
  hash: string;
}

/** An uploaded audit record the contract refused, kept for review (the record stays in the audit log). */
export interface AuditReviewRecord {
  lockerId: string;
  epoch: string;
  seq: number;
  type: string;
  reason: 'unknown-type' | 'invalid-json' | 'invalid-data';
  detail: string;
  receivedAt: number;
}

export interface NotificationRecord {
  id: string;
  dedupeKey: string;
  kind: string;
  recipient: Customer;
  payload: Record<string, unknown>;
  state: 'pending' | 'sent' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
}

export interface AlertRecord {
  id: string;
  lockerId: string;
  kind: string;
  details: Record<string, unknown>;
  at: number;
}

export interface SigningKeyRecord {
  kid: string;
  publicKey: string;
  firstSeenAt: number;
  retiredAt?: number;
  revokedAt?: number;
}

/** The latest health report of a locker and the fault episodes open as of it. */
export interface LockerHealthRecord {
  lockerId: string;
  bootId: string;
  sentAt: number;
  receivedAt: number;
  health: DeviceHealthWire;
  episodes: HealthEpisodes;
}

export interface HealthEpisodes {
  /** Compartment id → when (received) its out-of-service episode began. */
  outOfService: Record<string, number>;
  /** When the current keypad lockout episode began; absent when none. */
  lockoutSince?: number;
  /** When the locker began reporting a database it cannot write (disk full); absent when none. */
  storageUnwritableSince?: number;
  /** When the locker began reporting its storage reserve released (card nearly full); absent when none. */
  storageReserveReleasedSince?: number;
}

export interface CommandRecord {
  transactionId: string;
  lockerId: string;
  command: Record<string, unknown>;
  state: 'pending' | 'replied' | 'expired';
  reply?: Record<string, unknown>;
  attempts: number;
  nextAttemptAt: number;
  expiresAt: number;
  actor: string;
  createdAt: number;
  /** The device database epoch the command is signed for; the locker refuses it on any other. */
  dbEpoch?: string;
}
