import { ApiKeyAuth } from './auth/api-key-auth.js';
import { CodeSetService } from './codes/code-set-service.js';
import type { BackendConfig } from './config/config.js';
import { join } from 'node:path';
import { CodeBox } from './keys/code-box.js';
import { KeyStore } from './keys/key-store.js';
import { TokenService } from './keys/token-service.js';
import { AuditIngest } from './locker-sync/audit-ingest.js';
import { CommandService } from './locker-sync/command-service.js';
import { LockerBridge } from './locker-sync/locker-bridge.js';
import { BackendMetrics } from './metrics/backend-metrics.js';
import { Alerts } from './lockers/alerts.js';
import { CompartmentFaults } from './lockers/compartment-faults.js';
import { LockerHealth } from './lockers/locker-health.js';
import { LockerService } from './lockers/locker-service.js';
import type { NotificationChannel } from './notifications/channel.js';
import { OutboxDispatcher } from './notifications/outbox-dispatcher.js';
import { OrderService } from './orders/order-service.js';
import { OrderTransitions } from './orders/order-transitions.js';
import { ReturnExpiry } from './orders/return-expiry.js';
import { ParcelEvents } from './orders/parcel-events.js';
import { ShipmentService } from './orders/shipment-service.js';
import type { PaymentProvider } from './payments/payment-provider.js';
import { ReservationService } from './reservations/reservation-service.js';
import { RateLimiter } from './http/rate-limiter.js';
import type { AppDeps } from './http/app-deps.js';
import type { Clock } from './shared/clock.js';
import type { Ed25519 } from './shared/contract.js';
import type { Logger } from './shared/logger.js';
import { Sweeper } from './shared/sweeper.js';
import { KeyringReconciler } from './codes/keyring-reconciler.js';
import { RevocationFollower } from './codes/revocation-follower.js';
import type { Store } from './store/store.js';
import { LegLearner, learnedEta } from './tracking/eta/learned-eta.js';
import { LegStatsCache } from './tracking/eta/leg-stats-store.js';
import { createTrackingPoller } from './tracking/polling/create-tracking-poller.js';
import { ShipmentMilestones } from './tracking/shipment-milestones.js';
import { refoldPending } from './tracking/refold-pending.js';
import { TrackingApplier } from './tracking/tracking-applier.js';
import { StoreTrackingIntake } from './tracking/tracking-intake.js';
import { INBOX_BACKLOG_CAP, TrackingMetrics } from './tracking/tracking-metrics.js';
import { TRACKING_DEDUPE_RETENTION_MS, type TrackingServices } from './tracking/tracking-services.js';

// Wires the backend's components from their dependencies. Called by main.ts (the
// composition root, which chooses the real store, clock, payment provider and channels)
// and by tests (which pass temp-dir SQLite, fake clocks and recording channels). Creates
// objects only: nothing starts, connects or reads the network here.

export interface BackendParts {
  config: BackendConfig;
  store: Store;
  clock: Clock;
  logger: Logger;
  ed: Ed25519;
  payments: PaymentProvider;
  channels: readonly NotificationChannel[];
}

export interface BackendServices extends AppDeps {
  keys: KeyStore;
  codeBox: CodeBox;
  alerts: Alerts;
  faults: CompartmentFaults;
  health: LockerHealth;
  ingest: AuditIngest;
  bridge: LockerBridge;
  outbox: OutboxDispatcher;
  returnExpiry: ReturnExpiry;
  sweeper: Sweeper;
  tracking: TrackingServices;
}

export function createBackendServices(p: BackendParts): BackendServices {
  const { config, store, clock, logger } = p;
  const maxTokenLifetimeMs = Math.max(config.pickup.tokenTtlMs, config.pickup.returnTokenTtlMs, config.pickup.courierTokenTtlMs);
  const codeBox = new CodeBox(config.keys.codeKeyFile ?? join(config.keys.dir, 'code-data.secret'), logger);
  const keys = new KeyStore({ ed: p.ed, dir: config.keys.dir, activeKid: config.keys.activeKid, issuer: config.keys.issuer, revokedKids: config.keys.revokedKids, maxTokenLifetimeMs, store, clock, logger, codeBox });
  const tokens = new TokenService(keys, clock, {
    pickupMs: config.pickup.tokenTtlMs,
    courierMs: config.pickup.courierTokenTtlMs,
    returnMs: config.pickup.returnTokenTtlMs,
    codeDigits: config.pickup.codeDigits,
  });
  const codeSets = new CodeSetService(store);
  const transitions = new OrderTransitions(store, clock, logger.child({ component: 'transitions' }));
  const offlineGraceMs = config.presence.offlineGraceMs;
  const metrics: BackendMetrics = new BackendMetrics({ store, rejections: (): ReadonlyMap<string, number> => bridge.rejections(), signingAvailable: () => keys.signingAvailable });
  // Tracking (docs/backend.md, "Tracking"): sources accept into the inbox, the applier folds.
  const trackingMetrics = new TrackingMetrics(metrics.registry, async () => {
    const b = await store.tracking.inboxBacklog(INBOX_BACKLOG_CAP);
    return { events: b.events, oldestAgeMs: b.oldestReceivedAt === null ? 0 : Math.max(0, clock.now() - b.oldestReceivedAt) };
  });
  // ETA: the carrier's promise refined by leg times learned from arrived shipments.
  const legStats = new LegStatsCache(store.legStats, clock);
  const eta = learnedEta(legStats, clock);
  // `shipments` is built below (it applies through the applier): called only once both exist.
  const milestones = new ShipmentMilestones(store, transitions, logger, { returnedToSender: (id, who): Promise<boolean> => shipments.returnedToSender(id, who) });
  const applier = new TrackingApplier({
    store,
    clock,
    logger,
    metrics: trackingMetrics,
    eta,
    milestones,
    legs: new LegLearner(store, legStats, clock, logger),
  });
  const intake = new StoreTrackingIntake(store, logger);
  // Polling (docs/backend.md, "Tracking: polling and ETA"): off unless configured; main.ts
  // starts and stops it beside the sweeper. Polled scans go through the same intake.
  const poller = createTrackingPoller({ config: config.trackingPolling, schedule: store.pollSchedule, budgets: store.carrierBudgets, intake, clock, logger });
  const refold = (): Promise<{ refolded: number; failed: number }> => refoldPending({ store, clock, eta, logger: logger.child({ component: 'tracking' }) });
  const tracking: TrackingServices = { intake, applier, metrics: trackingMetrics, eta, poller, refoldPending: refold };
  const shipments = new ShipmentService({
    store,
    clock,
    logger,
    tokens,
    codeBox,
    codeSets,
    transitions,
    offlineGraceMs,
    maxExtensionMs: config.pickup.maxExtensionMs,
    tracking: { intake, apply: (trackingNumber) => applier.applyNow(trackingNumber), timeline: milestones },
  });
  const parcels = new ParcelEvents({ store, clock, logger, tokens, codeBox, codeSets, transitions, shipments, pickupWindowMs: config.pickup.windowMs, offlineGraceMs, tracking: intake });
  const returnExpiry = new ReturnExpiry({ store, clock, logger, codeSets, transitions, graceMs: offlineGraceMs });
  const orders = new OrderService({ store, clock, logger, payments: p.payments, transitions, shipments });
  const reservations = new ReservationService({ store, clock, logger, holdMs: config.reservations.holdMs, offlineGraceMs });
  const lockers = new LockerService(store, keys, clock, offlineGraceMs, logger);
  const alerts = new Alerts(store, clock, logger);
  const faults = new CompartmentFaults(store, clock, alerts, offlineGraceMs, logger);
  const ingest = new AuditIngest(store, clock, alerts, { store, parcels, faults, alerts }, logger);
  const commands = new CommandService({ store, keys, clock, logger });
  const health = new LockerHealth(store, alerts, clock, logger);
  const bridge = new LockerBridge({ store, clock, keys, codeSets, ingest, alerts, commands, health, snapshotWindowMs: config.codeSync.snapshotWindowMs, logger });
  const outbox = new OutboxDispatcher({ store, clock, logger, channels: p.channels, codeBox, maxAttempts: config.notifications.maxAttempts, baseBackoffMs: config.notifications.baseBackoffMs });
  const keyring = new KeyringReconciler({ store, keys, codeSets, clock, logger });
  const revocations = new RevocationFollower({ store, keys, tokens, codeSets, clock, logger });
  const sweeper = new Sweeper(
    [
      // First: the passes after it sign (commands, code batches) with the key it settles.
      { name: 'key-revocation-follow', run: () => revocations.run() },
      { name: 'reservations', run: () => reservations.sweep() },
      { name: 'pickup-expiry', run: () => parcels.expireDue() },
      { name: 'return-expiry', run: () => returnExpiry.expireDue() },
      { name: 'code-expiry', run: () => expireCodes(store, codeSets, clock) },
      { name: 'code-entry-retention', run: () => codeSets.purgeRevoked(clock.now() - config.codeSync.revokedRetentionMs) },
      { name: 'outbox', run: () => outbox.drain() },
      { name: 'refunds', run: () => orders.processRefunds() },
      { name: 'commands', run: () => commands.publishDue() },
      { name: 'coalesced-snapshots', run: () => bridge.flushCoalescedSnapshots() },
      { name: 'rejection-log-summary', run: () => bridge.flushRejectionLog() },
      { name: 'code-batch-publish', run: () => bridge.publishUnpublished() },
      { name: 'tracking-apply', run: () => applier.drain(10) },
      { name: 'tracking-dedupe-retention', run: () => store.tracking.purgeKeys(clock.now(), TRACKING_DEDUPE_RETENTION_MS, 5_000) },
      { name: 'tracking-raw-retention', run: () => store.tracking.purgeRaw(clock.now() - config.tracking.rawRetentionMs, 5_000) },
      { name: 'idempotency-retention', run: () => store.idempotency.purge(clock.now() - config.idempotency.retentionMs, 5_000) },
      { name: 'keyring-reconcile', run: () => keyring.run() },
      { name: 'reservation-retention', run: () => store.reservations.purgeAbandoned(clock.now() - config.reservations.retentionMs, 5_000) },
      { name: 'notification-retention', run: () => store.notifications.purgeFinished(clock.now() - config.notifications.retentionMs, 5_000) },
    ],
    Math.min(config.reservations.sweepIntervalMs, config.notifications.pollIntervalMs),
    logger,
  );
  const rateLimiter = new RateLimiter(clock, config.rateLimit.windowMs, config.rateLimit.max);
  const auth = config.auth === undefined ? undefined : new ApiKeyAuth(config.auth.apiKeys);
  return { logger, clock, store, auth, codeBox, lockers, reservations, orders, shipments, parcels, tokens, keys, codeSets, commands, rateLimiter, alerts, faults, health, ingest, bridge, outbox, returnExpiry, sweeper, metrics, tracking, trackingWebhooks: config.tracking.webhooks };
}

/**
 * Entries whose token expired leave the locker's set (collected parcels' codes included).
 * One transaction per locker, holding that one set's lock: taking many lockers' locks in
 * one transaction could deadlock with another instance doing the same. An entry revoked
 * meanwhile elsewhere is skipped (revoke is conditional).
 */
async function expireCodes(store: Store, codeSets: CodeSetService, clock: Clock): Promise<number> {
  const byLocker = new Map<string, string[]>();
  for (const e of await store.codeSets.liveExpiredBefore(clock.now(), 500)) {
    const tokenIds = byLocker.get(e.lockerId) ?? [];
    tokenIds.push(e.tokenId);
    byLocker.set(e.lockerId, tokenIds);
  }
  let n = 0;
  for (const [lockerId, tokenIds] of byLocker) {
    n += await store.transaction(async () => {
      let revoked = 0;
      for (const tokenId of tokenIds) if (await codeSets.revoke(lockerId, tokenId, 'expired')) revoked++;
      return revoked;
    });
  }
  return n;
}
