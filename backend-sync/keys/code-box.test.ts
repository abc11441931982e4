import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/logger.js';
import { CodeBox } from './code-box.js';

describe('CodeBox (codes at rest)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'codebox-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a 32-byte data key readable only by its owner when absent, and reuses it on the next load', () => {
    const file = join(dir, 'code-data.secret');
    const a = new CodeBox(file, silentLogger());
    a.load();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url')).toHaveLength(32);
    const sealed = a.seal('12345678', 'shp_1');
    const b = new CodeBox(file, silentLogger());
    b.load();
    expect(b.open(sealed, 'shp_1')).toBe('12345678');
  });

  it('gives instances that start together on one keys dir one and the same key, leaving no drafts behind', async () => {
    const file = join(dir, 'code-data.secret');
    const module = join(import.meta.dirname, 'code-box.ts');
    const script = `
      import { CodeBox } from ${JSON.stringify(module)};
      const box = new CodeBox(${JSON.stringify(file)}, { child: () => ({ info() {} }) });
      box.load();
      process.stdout.write(box.seal('12345678', 'shp_1'));
    `;
    const run = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
        child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`instance exited ${String(code)}: ${err}`))));
      });
    const sealed = await Promise.all([run(), run(), run(), run()]);
    const box = new CodeBox(file, silentLogger());
    box.load();
    for (const s of sealed) expect(box.open(s, 'shp_1')).toBe('12345678');
    expect(readdirSync(dir)).toEqual(['code-data.secret']);
  }, 30_000);

  it('seals a code so that it is not readable, differs each time, and opens only for the same shipment', () => {
    const box = new CodeBox(join(dir, 'k'), silentLogger());
    box.load();
    const s1 = box.seal('12345678', 'shp_1');
    const s2 = box.seal('12345678', 'shp_1');
    expect(s1).not.toContain('12345678');
    expect(s1).not.toBe(s2);
    expect(CodeBox.isSealed(s1)).toBe(true);
    expect(() => box.open(s1, 'shp_2')).toThrow(/does not open/);
    const tampered = `${s1.slice(0, -2)}${s1.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(() => box.open(tampered, 'shp_1')).toThrow();
  });

  it('refuses a data key file that is not 32 bytes, and a box whose key was never loaded', () => {
    const file = join(dir, 'bad');
    writeFileSync(file, 'c2hvcnQ\n');
    expect(() => new CodeBox(file, silentLogger()).load()).toThrow(/32 bytes/);
    expect(() => new CodeBox(file, silentLogger()).seal('1', 's')).toThrow(/not loaded/);
  });
});
