import type { DeviceConfig } from '../config.js';
import { lockoutPolicyFor, type LockoutPolicy } from '../core/lockout-policy.js';
import type { KeyringRow } from '../store/runtime-store.js';

// What the runtime needs from the device config: the parsed file minus what only the
// composition root uses (paths, hardware, log level), plus the pepper read from its file.

export type RuntimeConfig = Pick<DeviceConfig, 'lockerId' | 'compartments' | 'codeLength' | 'timeouts' | 'lockout' | 'doorFailuresBeforeOutOfService' | 'doorFlap' | 'clock' | 'retention' | 'storageReserve'> & {
  codePepper: Uint8Array;
  /** Bootstrap keyring from the config file (`trustedKeys`), merged under the store's rows. */
  trustedKeys?: readonly KeyringRow[];
};

export function runtimeConfigFrom(config: DeviceConfig, codePepper: Uint8Array): RuntimeConfig {
  return {
    lockerId: config.lockerId,
    compartments: config.compartments,
    codeLength: config.codeLength,
    timeouts: config.timeouts,
    lockout: config.lockout,
    doorFailuresBeforeOutOfService: config.doorFailuresBeforeOutOfService,
    doorFlap: config.doorFlap,
    clock: config.clock,
    retention: config.retention,
    storageReserve: config.storageReserve,
    codePepper,
    trustedKeys: config.trustedKeys.map((k) => ({ kid: k.kid, publicKey: k.publicKey, revoked: false, ...(k.notAfter === undefined ? {} : { notAfter: k.notAfter }) })),
  };
}

export function lockoutPolicyOf(config: RuntimeConfig): LockoutPolicy {
  return lockoutPolicyFor({ codeLength: config.codeLength, ...config.lockout });
}
