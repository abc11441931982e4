import type { ApiKeyAuth } from '../auth/api-key-auth.js';
import type { KeyStore } from '../keys/key-store.js';
import type { TokenService } from '../keys/token-service.js';
import type { CodeSetService } from '../codes/code-set-service.js';
import type { CommandService } from '../locker-sync/command-service.js';
import type { LockerService } from '../lockers/locker-service.js';
import type { BackendMetrics } from '../metrics/backend-metrics.js';
import type { OrderService } from '../orders/order-service.js';
import type { ParcelEvents } from '../orders/parcel-events.js';
import type { ShipmentService } from '../orders/shipment-service.js';
import type { ReservationService } from '../reservations/reservation-service.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { TrackingIntake } from '../tracking/tracking-event.js';
import type { TrackingServices } from '../tracking/tracking-services.js';
import type { RateLimiter } from './rate-limiter.js';

/** Everything the HTTP layer calls; built by main.ts (or a test) and passed to buildApp. */
export interface AppDeps {
  logger: Logger;
  clock: Clock;
  store: Store;
  lockers: LockerService;
  reservations: ReservationService;
  orders: OrderService;
  shipments: ShipmentService;
  parcels: ParcelEvents;
  tokens: TokenService;
  keys: KeyStore;
  codeSets: CodeSetService;
  commands: CommandService;
  rateLimiter?: RateLimiter | undefined;
  /** Bearer API keys; undefined only in tests and the embedded simulator (logged as auth disabled). */
  auth?: ApiKeyAuth | undefined;
  /** Prometheus metrics for GET /metrics. */
  metrics: BackendMetrics;
  /** Shipment tracking (intake, applier); GET /track and POST /tracking/events. */
  tracking: TrackingServices;
  /** For /health: is the MQTT link up (undefined: MQTT disabled). */
  mqttConnected?: (() => boolean) | undefined;
  /** Overrides `tracking.intake` for the webhook routes (tests record what they accept). */
  trackingIntake?: TrackingIntake | undefined;
  /** The secret each tracking provider signs its webhooks with (config.tracking.webhooks). */
  trackingWebhooks?: TrackingWebhookSecrets | undefined;
}

export interface TrackingWebhookSecrets {
  easypost?: { secret: string } | undefined;
  aftership?: { secret: string } | undefined;
}
