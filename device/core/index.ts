// The pure core of the device: state machines and policies, no I/O.
export * from './keypad-entry.js';
export * from './lockout-policy.js';
export * from './rate-limiter.js';
export * from './clock-trust.js';
export * from './door-flap-guard.js';
export * from './door-supervisor.js';
export * from './pickup-decision.js';
export * from './compartment-choice.js';
export * from './courier-session.js';
export * from './display-messages.js';
