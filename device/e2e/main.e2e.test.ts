import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { TestBackend } from '@locker/sync-testing/test-backend.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { isDeviceError } from '../errors.js';
import { startDevice, type RunningDevice } from '../main.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';

const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function configFile(overrides: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'device-main-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'pepper'), `${'ab'.repeat(32)}\n`);
  const config = {
    lockerId: 'locker-main-1',
    compartments: [{ id: 'A01', size: 'M' }, { id: 'A02', size: 'L' }],
    codePepperFile: join(dir, 'pepper'),
    dbPath: join(dir, 'device.db'),
    logLevel: 'silent',
    hardware: { kind: 'simulated', compartments: [{ id: 'A01' }, { id: 'A02' }] },
    ...overrides,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return join(dir, 'config.json');
}

describe('device composition root', () => {
  it('brings up a simulated locker from a config file and stops it cleanly', async () => {
    const device = await startDevice(configFile());
    expect(device.hardware.kind).toBe('simulated');
    expect(device.store.listCompartments().map((c) => c.id)).toEqual(['A01', 'A02']);
    expect(device.runtime.health().compartments).toHaveLength(2);
    await device.stop();
    await device.stop();
  });

  it('takes the storage reserve beside the database, really allocated, and removes it when configured to 0', async () => {
    const path = configFile({ storageReserve: { bytes: 2 * 1024 * 1024 } });
    const reserve = join(dirname(path), 'storage-reserve.bin');
    const device = await startDevice(path);
    expect(statSync(reserve).size).toBe(2 * 1024 * 1024);
    expect(statSync(reserve).blocks * 512).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(device.runtime.health().storage).toEqual({ writable: true, writeFailures: 0, reserveReleased: false });
    await device.stop();

    writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(path, 'utf8')) as object), storageReserve: { bytes: 0 } }));
    const again = await startDevice(path);
    expect(existsSync(reserve)).toBe(false);
    expect(again.runtime.health().storage).toEqual({ writable: true, writeFailures: 0 });
    await again.stop();
  });

  it('fails with CONFIG_INVALID for a config that breaks the lockout math', async () => {
    const path = configFile({ codeLength: 6 });
    const error = await startDevice(path).catch((err: unknown) => err);
    expect(isDeviceError(error, 'CONFIG_INVALID')).toBe(true);
  });

  it('fails with CONFIG_INVALID when the pepper file is missing', async () => {
    const path = configFile({ codePepperFile: '/nonexistent/pepper' });
    const error = await startDevice(path).catch((err: unknown) => err);
    expect(isDeviceError(error, 'CONFIG_INVALID')).toBe(true);
  });
});

describe('first-key provisioning (trustedKeys in the config file)', () => {
  const ed = createEd25519('node-crypto');
  const backendKey = new TokenIssuer({ ed, kid: 'backend-1', seed: new Uint8Array(32).fill(5), issuer: 'backend' });
  // Same kid, another key: a forger who knows the kid.
  const forger = new TokenIssuer({ ed, kid: 'backend-1', seed: new Uint8Array(32).fill(6), issuer: 'backend' });
  const trustedKeys = [{ kid: 'backend-1', publicKey: keyToText(backendKey.publicKey) }];

  function qr(issuer: TokenIssuer, jti: string): string {
    const now = Date.now();
    return issuer.issue('locker-main-1', {
      jti, purpose: 'pickup', cmp: 'A01', par: 'P-1',
      iat: new Date(now - 60_000).toISOString(), nbf: new Date(now - 60_000).toISOString(), exp: new Date(now + 3_600_000).toISOString(),
    });
  }

  async function until(predicate: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('accepts a QR token signed by a trusted key from the config on a board whose database holds no key', async () => {
    const device: RunningDevice = await startDevice(configFile({ trustedKeys }));
    try {
      expect(device.store.keyringRows()).toEqual([]);
      const control = device.control;
      if (control === undefined) throw new Error('expected simulated hardware');
      device.store.setCompartmentStatus('A01', 'occupied', { parcelId: 'P-1' });
      control.scanner.scan(qr(forger, 'tok_forged_000001'));
      await until(() => control.indicator.lastMessage()?.text.includes('not valid') === true, 'the refusal');
      expect(control.pulses('A01')).toHaveLength(0);
      control.scanner.scan(qr(backendKey, 'tok_genuine_00001'));
      await until(() => control.pulses('A01').length === 1, 'the relay pulse');
    } finally {
      await device.stop();
    }
  });

  it('refuses a config whose trusted key is not 32 bytes of base64url', async () => {
    const path = configFile({ trustedKeys: [{ kid: 'backend-1', publicKey: 'c2hvcnQ' }] });
    const error = await startDevice(path).catch((err: unknown) => err);
    expect(isDeviceError(error, 'CONFIG_INVALID')).toBe(true);
  });

  it('lets the sync agent verify and apply the first sealed code batch with only the config keys', async () => {
    const keys = makeTestKeys();
    const broker = await AedesHarness.start();
    const backend = await TestBackend.connect({ url: broker.url, signer: keys.signer, protocolVersion: 4 });
    const device = await startDevice(
      configFile({
        trustedKeys: keys.rows.map((r) => ({ kid: r.kid, publicKey: r.publicKey })),
        sync: { mqtt: { url: broker.url }, agent: { firmwareVersion: 'test', protocolVersion: 4 } },
      }),
    );
    try {
      await backend.waitFor(() => backend.presence.get('locker-main-1')?.status === 'online', 10_000, 'the birth message');
      backend.publishBatch({ lockerId: 'locker-main-1', kind: 'delta', fromVersion: 0, toVersion: 1, upserts: [], revocations: [], keyring: [] });
      await backend.waitFor(() => backend.codeAcks.length > 0, 10_000, 'the code ack');
      expect(backend.codeAcks[0]?.outcome).toBe('applied');
      expect(device.store.codeSetState().version).toBe(1);
    } finally {
      await device.stop();
      await backend.close();
      await broker.close();
    }
  });

  it('keeps a config key revoked once a code batch revoked it', async () => {
    const path = configFile({ trustedKeys });
    const first = await startDevice(path);
    const applied = first.runtime.syncPort().applyCodeBatch({
      lockerId: 'locker-main-1', kind: 'delta', fromVersion: 0, toVersion: 1, upserts: [], revocations: [], keyring: [{ op: 'revoke', kid: 'backend-1' }],
    });
    expect(applied.outcome).toBe('applied');
    await first.stop();
    const device = await startDevice(path);
    try {
      const control = device.control;
      if (control === undefined) throw new Error('expected simulated hardware');
      expect(device.runtime.keys().lookup('backend-1', Date.now()).status).toBe('revoked');
      device.store.setCompartmentStatus('A01', 'occupied', { parcelId: 'P-1' });
      control.scanner.scan(qr(backendKey, 'tok_after_revoked_1'));
      await until(() => control.indicator.lastMessage()?.text.includes('not valid') === true, 'the refusal');
      expect(control.pulses('A01')).toHaveLength(0);
    } finally {
      await device.stop();
    }
  });
});
