// Generates a backend token-signing key: `npx tsx scripts/keygen.ts --out keys/`.
// Writes <out>/<kid>.key (the 32-byte seed, base64url, mode 0600) and <out>/<kid>.pub
// (the public key, base64url), refuses to overwrite either, and prints the kid and public
// key for the keyring 'trust' change. Keys are never committed (keys/ is gitignored).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';

const USAGE = 'usage: npx tsx scripts/keygen.ts --out <dir> [--kid <kid>]\n';

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

/** k-YYYYMMDD-<8 random url-safe chars>: sortable by creation date, unique without a registry. */
function newKid(now: Date): string {
  const date = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `k-${date}-${randomBytes(6).toString('base64url')}`;
}

function main(): void {
  let values: { out?: string | undefined; kid?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ options: { out: { type: 'string' }, kid: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.out === undefined || values.out === '') usage('--out is required');
  const kid = values.kid ?? newKid(new Date());
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(kid)) usage('kid must be 1-64 characters of [A-Za-z0-9_-]');

  const dir = resolve(values.out);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { publicKey, seed } = createEd25519('node-crypto').generateKeyPair();
  const keyPath = join(dir, `${kid}.key`);
  const pubPath = join(dir, `${kid}.pub`);
  if (existsSync(keyPath) || existsSync(pubPath)) {
    process.stderr.write('keygen: refusing to overwrite an existing key file\n');
    process.exit(1);
  }
  try {
    // 'wx' fails if the file exists: a second run must never replace a key in use.
    writeFileSync(keyPath, `${keyToText(seed)}\n`, { mode: 0o600, flag: 'wx' });
    writeFileSync(pubPath, `${keyToText(publicKey)}\n`, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(`keygen: ${code === 'EEXIST' ? 'refusing to overwrite an existing key file' : 'cannot write key files'} (${code ?? 'unknown'})\n`);
    process.exit(1);
  }
  process.stdout.write(`kid: ${kid}\npublicKey: ${keyToText(publicKey)}\nprivate: ${keyPath}\npublic: ${pubPath}\n`);
}

main();
