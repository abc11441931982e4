import { EMPTY_CODE_SET_DIGEST } from '@locker/contract/codes/code-set-digest.js';
import { DeviceError } from '../errors.js';
import type { CodeSetState } from '@locker/sync-agent/device-sync-port.js';
import { GENESIS_PREV_HASH } from '@locker/contract/audit/audit-hash.js';
import type { SqliteDatabase, Stmt as Statement } from './open-database.js';

// The single `meta` row: which locker the file belongs to, the code-set version and
// digest, the trusted-time floor, the audit outbox anchors and the count of suppressed
// rejections; and the file's epoch (db_identity).

interface MetaRow {
  locker_id: string;
  code_set_version: number;
  code_set_digest: string;
  clock_floor: number;
  clock_confirmed: number;
  clock_signed_max: number;
  audit_acked_seq: number;
  audit_anchor_seq: number;
  audit_anchor_hash: string;
}

export interface AuditAnchor {
  /** Seq of the last pruned record (0 when nothing was ever pruned). */
  seq: number;
  /** Its hash: the prevHash the first retained record must carry. */
  hash: string;
}

/** The persisted clock-trust anchors (core/clock-trust.ts). */
export interface ClockTrustRow {
  floorMs: number;
  confirmed: boolean;
  signedMaxMs: number;
}

export class MetaRepository {
  private readonly selectEpoch: Statement<[], { epoch: string }>;
  private readonly newEpoch: Statement<[]>;
  private readonly selectSuppressed: Statement<[], { n: number }>;
  private readonly addSuppressed: Statement<[]>;
  private readonly clearSuppressed: Statement<[]>;
  private readonly select: Statement<[], MetaRow>;
  private readonly insert: Statement<[string, string, string, number]>;
  private readonly updateCodeSet: Statement<[number, string]>;
  private readonly raiseFloor: Statement<[number, number]>;
  private readonly saveTrust: Statement<{ floor: number; confirmed: number; signed: number }>;
  private readonly updateAcked: Statement<[number]>;
  private readonly updateAnchor: Statement<[number, string]>;

  constructor(db: SqliteDatabase) {
    this.selectEpoch = db.prepare<[], { epoch: string }>('SELECT epoch FROM db_identity WHERE id = 1');
    // Same source as migration 3: 128 bits from SQLite's generator (seeded from the OS).
    this.newEpoch = db.prepare<[]>('UPDATE db_identity SET epoch = lower(hex(randomblob(16))) WHERE id = 1');
    this.selectSuppressed = db.prepare<[], { n: number }>('SELECT rejections_suppressed AS n FROM meta WHERE id = 1');
    this.addSuppressed = db.prepare<[]>('UPDATE meta SET rejections_suppressed = rejections_suppressed + 1 WHERE id = 1');
    this.clearSuppressed = db.prepare<[]>('UPDATE meta SET rejections_suppressed = 0 WHERE id = 1');
    this.select = db.prepare<[], MetaRow>(
      `SELECT locker_id, code_set_version, code_set_digest, clock_floor, clock_confirmed, clock_signed_max, audit_acked_seq, audit_anchor_seq, audit_anchor_hash
         FROM meta WHERE id = 1`,
    );
    this.insert = db.prepare<[string, string, string, number]>(
      `INSERT INTO meta (id, locker_id, code_set_version, code_set_digest, clock_floor, audit_acked_seq, audit_anchor_seq, audit_anchor_hash, created_at)
       VALUES (1, ?, 0, ?, 0, 0, 0, ?, ?)`,
    );
    this.updateCodeSet = db.prepare<[number, string]>('UPDATE meta SET code_set_version = ?, code_set_digest = ? WHERE id = 1');
    this.raiseFloor = db.prepare<[number, number]>('UPDATE meta SET clock_floor = ? WHERE id = 1 AND clock_floor < ?');
    // The invariants, enforced by the statement itself: the highest signed time and the
    // confirmed flag only go up; the floor never goes below the highest signed time, and
    // goes down only while it is unconfirmed (a provisional wall reading).
    this.saveTrust = db.prepare<{ floor: number; confirmed: number; signed: number }>(
      `UPDATE meta SET clock_floor = @floor, clock_confirmed = MAX(clock_confirmed, @confirmed), clock_signed_max = MAX(clock_signed_max, @signed)
        WHERE id = 1 AND @floor >= MAX(clock_signed_max, @signed) AND (clock_confirmed = 0 OR @floor >= clock_floor)`,
    );
    this.updateAcked = db.prepare<[number]>('UPDATE meta SET audit_acked_seq = ? WHERE id = 1');
    this.updateAnchor = db.prepare<[number, string]>('UPDATE meta SET audit_anchor_seq = ?, audit_anchor_hash = ? WHERE id = 1');
  }

  /** Creates the row for a new file, or fails closed when the file belongs to another locker. */
  claim(lockerId: string, now: number): void {
    const row = this.select.get();
    if (row === undefined) {
      this.insert.run(lockerId, EMPTY_CODE_SET_DIGEST, GENESIS_PREV_HASH, now);
      return;
    }
    if (row.locker_id !== lockerId) {
      throw new DeviceError('DB_LOCKER_MISMATCH', 'device database belongs to another locker', {
        expected: lockerId,
        found: row.locker_id,
      });
    }
  }

  private row(): MetaRow {
    const row = this.select.get();
    if (row === undefined) throw new DeviceError('INTERNAL', 'meta row missing');
    return row;
  }

  /** The database epoch: created with the file by migration 3; renewed only when the file turns out to be a restored copy. */
  dbEpoch(): string {
    const row = this.selectEpoch.get();
    if (row === undefined) throw new DeviceError('INTERNAL', 'database epoch missing');
    return row.epoch;
  }

  /** Replaces the epoch with a fresh random one; returns it. */
  renewDbEpoch(): string {
    if (this.newEpoch.run().changes !== 1) throw new DeviceError('INTERNAL', 'database epoch missing');
    return this.dbEpoch();
  }

  /** Security rejections not written to the audit log since the last one that was. */
  suppressedRejections(): number {
    return this.selectSuppressed.get()?.n ?? 0;
  }

  countSuppressedRejection(): void {
    this.addSuppressed.run();
  }

  clearSuppressedRejections(): void {
    this.clearSuppressed.run();
  }

  codeSetState(): CodeSetState {
    const row = this.row();
    return { version: row.code_set_version, digest: row.code_set_digest };
  }

  setCodeSet(state: CodeSetState): void {
    this.updateCodeSet.run(state.version, state.digest);
  }

  clockFloor(): number {
    return this.row().clock_floor;
  }

  /** Conditional UPDATE: the floor moves up in one statement, never down. */
  raiseClockFloor(epochMs: number): boolean {
    return this.raiseFloor.run(epochMs, epochMs).changes > 0;
  }

  clockTrust(): ClockTrustRow {
    const row = this.row();
    return { floorMs: row.clock_floor, confirmed: row.clock_confirmed === 1, signedMaxMs: row.clock_signed_max };
  }

  /** Saves the anchors; false (nothing written) when that would break an invariant above. */
  saveClockTrust(trust: ClockTrustRow): boolean {
    return this.saveTrust.run({ floor: trust.floorMs, confirmed: trust.confirmed ? 1 : 0, signed: trust.signedMaxMs }).changes > 0;
  }

  auditAckedSeq(): number {
    return this.row().audit_acked_seq;
  }

  setAuditAckedSeq(seq: number): void {
    this.updateAcked.run(seq);
  }

  auditAnchor(): AuditAnchor {
    const row = this.row();
    return { seq: row.audit_anchor_seq, hash: row.audit_anchor_hash };
  }

  setAuditAnchor(anchor: AuditAnchor): void {
    this.updateAnchor.run(anchor.seq, anchor.hash);
  }
}
