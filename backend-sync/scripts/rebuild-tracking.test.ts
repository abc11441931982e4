import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import { silentLogger } from '../shared/logger.js';
import { sql } from '../store/sql/sql-text.js';
import { openSqliteStore } from '../store/open-store.js';
import { SQLITE_SCHEMA_VERSION, migrate } from '../store/sqlite/migrations.js';
import { MIN, T, scan, trackingRig } from '../testing/tracking-helpers.js';

// The operator's rebuild command as it runs: its own process, the backend's config file,
// exit status 0 (nothing differed), 1 (differences, repaired unless --dry-run), 2 (failure).

const script = fileURLToPath(new URL('./rebuild-tracking.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rebuild-tracking-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rebuild(config: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, BACKEND_CONFIG: config } });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function configFor(name: string, db: Record<string, unknown>): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ db, mqtt: { enabled: false }, auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: apiKeyDigest('ops-key-0123456789') }] } }));
  return path;
}

describe('rebuild-tracking command', () => {
  it('reports a tampered read model with exit 1, repairs it unless --dry-run, then finds nothing', async () => {
    const path = join(dir, 'backend.db');
    const store = openSqliteStore(path, silentLogger());
    const rig = trackingRig(store);
    await rig.send([scan('RB1', 'picked_up', T), scan('RB1', 'in_transit', T + MIN), scan('RB2', 'label_created', T)]);
    await rig.applier.drain();
    await store.x.run(sql(`UPDATE tracking_read SET doc_json = '{}' WHERE tracking_number = 'RB1'`));
    await store.close();
    const config = join(dir, 'backend.json');
    writeFileSync(config, JSON.stringify({ db: { path }, mqtt: { enabled: false }, auth: { apiKeys: [{ id: 'ops', roles: ['admin'], sha256: apiKeyDigest('ops-key-0123456789') }] } }));

    const dry = rebuild(config, '--dry-run');
    expect(dry.status).toBe(1);
    expect(dry.stdout.trim().split('\n').map((l) => JSON.parse(l) as { trackingNumber: string; what: string })).toEqual([expect.objectContaining({ trackingNumber: 'RB1', what: 'read_model' })]);
    expect(dry.stderr).toMatch(/tracking numbers: 2, differences: 1\n/);
    expect(rebuild(config, '--dry-run').status).toBe(1); // a dry run changed nothing

    const repair = rebuild(config);
    expect(repair.status).toBe(1);
    expect(repair.stderr).toMatch(/differences: 1 \(repaired\)/);
    const clean = rebuild(config);
    expect(clean).toMatchObject({ status: 0, stdout: '' });
    expect(clean.stderr).toMatch(/differences: 0\n/);
  });

  it('prints each repair once its number committed, so a run that fails later has said what it changed', async () => {
    const path = join(dir, 'partial.db');
    const store = openSqliteStore(path, silentLogger());
    const rig = trackingRig(store);
    await rig.send([scan('PA-1', 'picked_up', T), scan('PA-1', 'in_transit', T + MIN), scan('PZ-9', 'picked_up', T)]);
    await rig.applier.drain();
    await store.x.run(sql(`UPDATE tracking_read SET doc_json = '{}' WHERE tracking_number = 'PA-1'`));
    // A history row this release cannot read (written by hand): the run stops there.
    await store.x.run(sql(`INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES ('PZ-9', 'hand-written', 'picked_up', ?, 'canonical', 'p', ?, '{}')`), [T, T]);
    await store.close();
    const run = rebuild(configFor('partial', { path }));
    const after = openSqliteStore(path, silentLogger());
    const repaired = (await after.tracking.readModel('PA-1'))?.docJson !== '{}';
    await after.close();
    expect({ status: run.status, repaired }).toEqual({ status: 2, repaired: true });
    expect(run.stdout).toContain('"trackingNumber":"PA-1"');
    expect(run.stderr).toMatch(/rebuild failed: corrupt row in tracking_history .*\(after 1 differences, repaired, listed above\)/);
  });

  it('exits 2 and creates nothing when the database cannot be opened, is not there, or is at another schema version', () => {
    const unreachable = rebuild(configFor('pg-down', { url: 'postgres://postgres@127.0.0.1:1/test' }), '--dry-run');
    expect(unreachable.status).toBe(2);
    expect(unreachable.stderr).toMatch(/rebuild failed: .*ECONNREFUSED/);
    const aDirectory = join(dir, 'is-a-dir.db');
    mkdirSync(aDirectory, { recursive: true });
    expect(rebuild(configFor('sqlite-dir', { path: aDirectory }), '--dry-run').status).toBe(2);
    // A mistyped path is an error, not an empty database with no differences.
    const typo = join(dir, 'var', 'bakcend.db');
    const mistyped = rebuild(configFor('typo', { path: typo }), '--dry-run');
    expect({ status: mistyped.status, created: existsSync(typo) }).toEqual({ status: 2, created: false });
    expect(mistyped.stderr).toMatch(/no database at .*bakcend\.db/);
    // A database of the previous release: even a dry run must not migrate it under running instances.
    const old = join(dir, 'old-release.db');
    const db = new Database(old);
    db.pragma('journal_mode = WAL');
    migrate(db, SQLITE_SCHEMA_VERSION - 1);
    db.close();
    const previous = rebuild(configFor('old-release', { path: old }), '--dry-run');
    const check = new Database(old, { readonly: true });
    const version = check.pragma('user_version', { simple: true }) as number;
    check.close();
    expect({ status: previous.status, version }).toEqual({ status: 2, version: SQLITE_SCHEMA_VERSION - 1 });
    expect(previous.stderr).toMatch(/older schema than this tool's release/);
  });

  it('exits 2 on an unknown argument or a config it cannot load', () => {
    const bad = rebuild(join(dir, 'missing.json'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/cannot read backend config file/);
    expect(rebuild(join(dir, 'missing.json'), '--force').status).toBe(2);
  });
});
