export { LockerRuntime, type LockerRuntimeDeps } from './locker-runtime.js';
export { runtimeConfigFrom, lockoutPolicyOf, type RuntimeConfig } from './runtime-config.js';
export { RuntimeSyncPort } from './runtime-sync-port.js';
