import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from './config.js';

describe('backend config', () => {
  it('fills defaults: 15 min holds, 72 h pickup window, 8-digit codes', () => {
    const c = parseConfig({ mqtt: { url: 'mqtt://127.0.0.1:1883' } });
    expect(c.reservations.holdMs).toBe(15 * 60_000);
    expect(c.pickup.windowMs).toBe(72 * 3_600_000);
    expect(c.pickup.codeDigits).toBe(8);
  });

  it('ends PostgreSQL transactions idle for 60 s by default, never with 0, and refuses a bound under a second', () => {
    expect(parseConfig({ mqtt: { enabled: false } }).db.idleInTransactionTimeoutMs).toBe(60_000);
    expect(parseConfig({ mqtt: { enabled: false }, db: { idleInTransactionTimeoutMs: 0 } }).db.idleInTransactionTimeoutMs).toBe(0);
    expect(() => parseConfig({ mqtt: { enabled: false }, db: { idleInTransactionTimeoutMs: 500 } })).toThrow(/0 \(never\) or at least 1000/);
  });

  it('keeps abandoned holds 30 days by default and refuses a window under a week', () => {
    expect(parseConfig({ mqtt: { enabled: false } }).reservations.retentionMs).toBe(30 * 86_400_000);
    expect(() => parseConfig({ mqtt: { enabled: false }, reservations: { retentionMs: 86_400_000 } })).toThrow(/at least seven days/);
    expect(() => parseConfig({ mqtt: { enabled: false }, reservations: { retentionMs: 8 * 86_400_000 }, idempotency: { retentionMs: 9 * 86_400_000 } })).toThrow(
      /reservations\.retentionMs: must be at least idempotency\.retentionMs/,
    );
  });

  it('keeps finished notifications 30 days by default and refuses a window under a day', () => {
    expect(parseConfig({ mqtt: { enabled: false } }).notifications.retentionMs).toBe(30 * 86_400_000);
    expect(() => parseConfig({ mqtt: { enabled: false }, notifications: { retentionMs: 3_600_000 } })).toThrow(/at least one day/);
    expect(parseConfig({ mqtt: { enabled: false }, notifications: { retentionMs: 86_400_000 } }).notifications.retentionMs).toBe(86_400_000);
  });

  it('keeps revoked code entries 30 days after their token expired by default and refuses a window under a day', () => {
    expect(parseConfig({ mqtt: { enabled: false } }).codeSync.revokedRetentionMs).toBe(30 * 86_400_000);
    expect(() => parseConfig({ mqtt: { enabled: false }, codeSync: { revokedRetentionMs: 60_000 } })).toThrow(/at least one day/);
  });

  it('keeps raw tracking payloads 90 days by default and refuses a window shorter than the dedupe window', () => {
    expect(parseConfig({ mqtt: { enabled: false } }).tracking.rawRetentionMs).toBe(90 * 86_400_000);
    expect(() => parseConfig({ mqtt: { enabled: false }, tracking: { rawRetentionMs: 86_400_000 } })).toThrow(/at least 30 days/);
  });

  it('remembers idempotency keys 24 h by default and refuses a window under an hour', () => {
    expect(parseConfig({ mqtt: { enabled: false } }).idempotency.retentionMs).toBe(24 * 3_600_000);
    expect(() => parseConfig({ mqtt: { enabled: false }, idempotency: { retentionMs: 60_000 } })).toThrow(/at least one hour/);
    expect(parseConfig({ mqtt: { enabled: false }, idempotency: { retentionMs: 3_600_000 } }).idempotency.retentionMs).toBe(3_600_000);
  });

  it('reads the file named by BACKEND_CONFIG and lets env variables override it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'backend.json');
      writeFileSync(file, JSON.stringify({ http: { port: 9000, host: '0.0.0.0' }, pickup: { codeDigits: 10 }, auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: 'a'.repeat(64) }] } }));
      const c = loadConfig({ BACKEND_CONFIG: file, BACKEND_PORT: '9100', BACKEND_DB_PATH: '/tmp/x.db', BACKEND_MQTT_URL: 'mqtt://127.0.0.1:1883' });
      expect(c.http).toEqual({ port: 9100, host: '0.0.0.0' });
      expect(c.pickup.codeDigits).toBe(10);
      expect(c.db.path).toBe('/tmp/x.db');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes tracking webhook secrets from the file or BACKEND_EASYPOST/AFTERSHIP_WEBHOOK_SECRET, none by default', () => {
    expect(parseConfig({ mqtt: { enabled: false } }).tracking.webhooks).toEqual({});
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'backend.json');
      writeFileSync(file, JSON.stringify({ mqtt: { enabled: false }, tracking: { webhooks: { easypost: { secret: 'from-the-file-1' } } }, auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: 'a'.repeat(64) }] } }));
      const c = loadConfig({ BACKEND_CONFIG: file, BACKEND_AFTERSHIP_WEBHOOK_SECRET: 'from-the-env-22' });
      expect(c.tracking.webhooks).toEqual({ easypost: { secret: 'from-the-file-1' }, aftership: { secret: 'from-the-env-22' } });
      expect(() => parseConfig({ mqtt: { enabled: false }, tracking: { webhooks: { easypost: { secret: 'short' } } } })).toThrow(/tracking\.webhooks\.easypost\.secret/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a production config without API key digests, or with a plaintext key in place of a digest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'backend.json');
      writeFileSync(file, JSON.stringify({}));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/is invalid/);
      writeFileSync(file, JSON.stringify({ auth: { apiKeys: [] } }));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/is invalid/);
      writeFileSync(file, JSON.stringify({ auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: 'lk_my-secret-key' }] } }));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/is invalid/);
      writeFileSync(file, JSON.stringify({ auth: { apiKeys: [{ id: 'ops', roles: ['root'], sha256: 'a'.repeat(64) }] } }));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(/is invalid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects unknown keys and out-of-range values with the offending paths', () => {
    expect(() => parseConfig({ pickup: { codeDigits: 3 } })).toThrow(/is invalid/);
    try {
      parseConfig({ htp: {} });
    } catch (err) {
      expect(JSON.stringify((err as { details: unknown }).details)).toContain('htp');
    }
  });
});

describe('start-up messages an operator can act on', () => {
  it('names the config file and the missing field when no API key is configured', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'backend.json');
      writeFileSync(file, JSON.stringify({ mqtt: { url: 'mqtt://broker.example:1883' } }));
      expect(() => loadConfig({ BACKEND_CONFIG: file })).toThrow(`backend config ${file} is invalid: auth.apiKeys: at least one API key digest is required`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says when no file was given at all', () => {
    expect(() => loadConfig({})).toThrow(/no BACKEND_CONFIG file.*mqtt\.url: required while mqtt\.enabled is true/);
  });

  it('never connects to a default broker: mqtt.url is required unless MQTT is switched off', () => {
    expect(() => parseConfig({})).toThrow(/mqtt\.url: required while mqtt\.enabled is true/);
    expect(parseConfig({ mqtt: { enabled: false } }).mqtt.url).toBeUndefined();
    expect(() => parseConfig({ mqtt: { url: '127.0.0.1:1883' } })).toThrow(/mqtt\.url: must be an mqtt:\/\//);
  });

  it('names an unreadable file and why', () => {
    expect(() => loadConfig({ BACKEND_CONFIG: '/nonexistent/backend.json' })).toThrow(/cannot read backend config file \/nonexistent\/backend.json: ENOENT/);
  });
});
