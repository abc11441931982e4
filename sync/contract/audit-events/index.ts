export * from './audit-fields.js';
export * from './audit-event-catalog.js';
export { parcelEvents } from './parcel-events.js';
export { doorEvents } from './door-events.js';
export { deviceEvents } from './device-events.js';
