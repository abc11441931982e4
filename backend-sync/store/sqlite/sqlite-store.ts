import type { Logger } from '../../shared/logger.js';
import type { Store } from '../store.js';
import { GroupCommit } from './group-commit.js';
import { openSqlite, type SqliteDatabase } from './open-sqlite.js';
import { SqliteLockerRepository } from './sqlite-locker-repository.js';
import { SqliteIdempotencyRepository, SqliteRefundRepository, SqliteStateLogRepository } from './sqlite-ledger-repositories.js';
import { SqliteOrderRepository, SqliteShipmentRepository } from './sqlite-order-repositories.js';
import { SqliteReservationRepository } from './sqlite-reservation-repository.js';
import { SqliteAlertRepository, SqliteSigningKeyRepository } from './sqlite-alert-repository.js';
import { SqliteAuditRepository } from './sqlite-audit-repository.js';
import { SqliteCodeSetRepository } from './sqlite-code-set-repository.js';
import { SqliteCommandRepository } from './sqlite-command-repository.js';
import { SqliteLockerHealthRepository } from './sqlite-locker-health-repository.js';
import { SqliteNotificationRepository } from './sqlite-notification-repository.js';

// The embedded store: one better-sqlite3 connection per process. Transactions are BEGIN
// IMMEDIATE so that several processes on one file serialise their writes on the lock
// (with busy_timeout) rather than discovering a conflict at commit.

export class SqliteStore implements Store {
  readonly lockers;
  readonly reservations;
  readonly idempotency;
  readonly orders;
  readonly shipments;
  readonly stateLog;
  readonly refunds;
  readonly codeSets;
  readonly audit;
  readonly notifications;
  readonly alerts;
  readonly signingKeys;
  readonly commands;
  readonly lockerHealth;

  private readonly group: GroupCommit;

  constructor(readonly db: SqliteDatabase) {
    this.group = new GroupCommit(db);
    this.lockers = new SqliteLockerRepository(db);
    this.reservations = new SqliteReservationRepository(db);
    this.idempotency = new SqliteIdempotencyRepository(db);
    this.orders = new SqliteOrderRepository(db);
    this.shipments = new SqliteShipmentRepository(db);
    this.stateLog = new SqliteStateLogRepository(db);
    this.refunds = new SqliteRefundRepository(db);
    this.codeSets = new SqliteCodeSetRepository(db);
    this.audit = new SqliteAuditRepository(db);
    this.notifications = new SqliteNotificationRepository(db);
    this.alerts = new SqliteAlertRepository(db);
    this.signingKeys = new SqliteSigningKeyRepository(db);
    this.commands = new SqliteCommandRepository(db);
    this.lockerHealth = new SqliteLockerHealthRepository(db);
  }

  static open(path: string, logger: Logger): SqliteStore {
    return new SqliteStore(openSqlite({ path, logger }));
  }

  transaction<T>(work: () => T): T {
    // Nested calls become savepoints (better-sqlite3): an inner throw undoes only the inner part.
    return this.db.transaction(work).immediate();
  }

  transactionGrouped<T>(work: () => T): Promise<T> {
    return this.group.run(work);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
