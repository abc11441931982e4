import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import { silentLogger } from '../shared/logger.js';
import { sql } from '../store/sql/sql-text.js';
import { openSqliteStore } from '../store/open-store.js';
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

  it('exits 2 on an unknown argument or a config it cannot load', () => {
    const bad = rebuild(join(dir, 'missing.json'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/cannot read backend config file/);
    expect(rebuild(join(dir, 'missing.json'), '--force').status).toBe(2);
  });
});
