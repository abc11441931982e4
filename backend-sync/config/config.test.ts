import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from './config.js';

describe('backend config', () => {
  it('fills defaults: 15 min holds, 72 h pickup window, 8-digit codes', () => {
    const c = parseConfig({});
    expect(c.reservations.holdMs).toBe(15 * 60_000);
    expect(c.pickup.windowMs).toBe(72 * 3_600_000);
    expect(c.pickup.codeDigits).toBe(8);
  });

  it('reads the file named by BACKEND_CONFIG and lets env variables override it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'backend.json');
      writeFileSync(file, JSON.stringify({ http: { port: 9000, host: '0.0.0.0' }, pickup: { codeDigits: 10 }, auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: 'a'.repeat(64) }] } }));
      const c = loadConfig({ BACKEND_CONFIG: file, BACKEND_PORT: '9100', BACKEND_DB_PATH: '/tmp/x.db' });
      expect(c.http).toEqual({ port: 9100, host: '0.0.0.0' });
      expect(c.pickup.codeDigits).toBe(10);
      expect(c.db.path).toBe('/tmp/x.db');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a production config without API key digests, or with a plaintext key in place of a digest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'backend.json');
      writeFileSync(file, JSON.stringify({}));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/config is invalid/);
      writeFileSync(file, JSON.stringify({ auth: { apiKeys: [] } }));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/config is invalid/);
      writeFileSync(file, JSON.stringify({ auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: 'lk_my-secret-key' }] } }));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/config is invalid/);
      writeFileSync(file, JSON.stringify({ auth: { apiKeys: [{ id: 'ops', roles: ['root'], sha256: 'a'.repeat(64) }] } }));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/config is invalid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects unknown keys and out-of-range values with the offending paths', () => {
    expect(() => parseConfig({ pickup: { codeDigits: 3 } })).toThrow(/config is invalid/);
    try {
      parseConfig({ htp: {} });
    } catch (err) {
      expect(JSON.stringify((err as { details: unknown }).details)).toContain('htp');
    }
  });
});
