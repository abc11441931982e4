import type { Generated } from 'kysely';
import type { Size } from './hold-schedule.js';

// The tables the checkout hold touches, typed for Kysely as the migrations define them
// (backend-sync/store/sqlite/migrations.ts, postgres/pg-migrations.ts). Times are epoch ms;
// flags are INTEGER 0/1 on both engines.

export interface LockersTable {
  rid: Generated<number>;
  id: string;
  name: string;
  lat: number;
  lng: number;
  address_json: string;
  opening_hours_json: string;
  status: 'operating' | 'offline' | 'out_of_service';
  code_pepper: Buffer;
  online: Generated<number>;
  offline_since: number | null;
  presence_json: string | null;
  created_at: number;
}

export interface CompartmentsTable {
  locker_id: string;
  id: string;
  size: Size;
  width_mm: number;
  height_mm: number;
  depth_mm: number;
  state: 'free' | 'held' | 'reserved' | 'occupied' | 'out_of_service';
  reservation_id: string | null;
  hold_expires_at: number | null;
}

export interface ReservationsTable {
  id: string;
  order_ref: string;
  locker_id: string;
  size: Size;
  compartment_id: string;
  status: 'held' | 'confirmed' | 'released' | 'expired' | 'consumed';
  expires_at: number;
  order_id: string | null;
  shipment_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface IdempotencyTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number;
  response_json: string;
  created_at: number;
}

export interface StateLogTable {
  id: Generated<number>;
  entity: string;
  entity_id: string;
  from_state: string | null;
  to_state: string;
  event: string;
  actor: string;
  reason: string | null;
  at: number;
}

export interface HoldDatabase {
  lockers: LockersTable;
  compartments: CompartmentsTable;
  reservations: ReservationsTable;
  idempotency: IdempotencyTable;
  state_log: StateLogTable;
}
