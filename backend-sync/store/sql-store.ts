import type { Store } from './store.js';
import { SqlAlertRepository, SqlSigningKeyRepository } from './sql/alert-repository.js';
import { SqlAuditRepository } from './sql/audit-repository.js';
import { SqlCodeSetRepository } from './sql/code-set-repository.js';
import { SqlCommandRepository } from './sql/command-repository.js';
import { SqlIdempotencyRepository, SqlRefundRepository, SqlStateLogRepository } from './sql/ledger-repositories.js';
import { SqlLockerHealthRepository } from './sql/locker-health-repository.js';
import { SqlLockerRepository } from './sql/locker-repository.js';
import { SqlNotificationRepository } from './sql/notification-repository.js';
import { SqlOrderRepository, SqlShipmentRepository } from './sql/order-repositories.js';
import { SqlReservationRepository } from './sql/reservation-repository.js';
import type { SqlExecutor } from './sql/sql-executor.js';
import { sqlPer } from './sql/sql-text.js';
import { SqlCarrierBudgets } from './sql/carrier-budget-repository.js';
import { SqlPollSchedule } from './sql/poll-schedule-repository.js';
import { SqlLegStatsRepository } from './sql/leg-stats-repository.js';
import { SqlTrackingRepository } from './sql/tracking-repository.js';

// The server's clock, whole epoch ms. clock_timestamp(), not now(): now() is the start of
// the transaction, and this may run inside one. SQLite's 'now' is the host's clock, the
// one the (single) instance reads anyway.
const dbTime = sqlPer({
  sqlite: `SELECT CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) AS t`,
  postgres: `SELECT round(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS t`,
});

// The one Store implementation: every repository is written once against SqlExecutor and
// runs on whichever engine the executor speaks (docs/decisions/0029).

export class SqlStore implements Store {
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
  readonly tracking;
  readonly pollSchedule;
  readonly carrierBudgets;
  readonly legStats;
  readonly engine;

  constructor(readonly x: SqlExecutor) {
    this.engine = x.engine;
    this.lockers = new SqlLockerRepository(x);
    this.reservations = new SqlReservationRepository(x);
    this.idempotency = new SqlIdempotencyRepository(x);
    this.orders = new SqlOrderRepository(x);
    this.shipments = new SqlShipmentRepository(x);
    this.stateLog = new SqlStateLogRepository(x);
    this.refunds = new SqlRefundRepository(x);
    this.codeSets = new SqlCodeSetRepository(x);
    this.audit = new SqlAuditRepository(x);
    this.notifications = new SqlNotificationRepository(x);
    this.alerts = new SqlAlertRepository(x);
    this.signingKeys = new SqlSigningKeyRepository(x);
    this.commands = new SqlCommandRepository(x);
    this.lockerHealth = new SqlLockerHealthRepository(x);
    this.tracking = new SqlTrackingRepository(x);
    this.pollSchedule = new SqlPollSchedule(x);
    this.carrierBudgets = new SqlCarrierBudgets(x);
    this.legStats = new SqlLegStatsRepository(x);
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    return this.x.transaction(work);
  }

  transactionGrouped<T>(work: () => Promise<T>): Promise<T> {
    return this.x.transactionGrouped(work);
  }

  ping(): Promise<void> {
    return this.x.ping();
  }

  async dbTime(): Promise<number> {
    const row = await this.x.one<{ t: number }>(dbTime);
    if (row === undefined) throw new Error('the database returned no time');
    return Number(row.t);
  }

  close(): Promise<void> {
    return this.x.close();
  }
}
