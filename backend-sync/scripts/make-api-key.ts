// Makes a new bearer API key and the config entry that admits it:
//   npx tsx backend-sync/scripts/make-api-key.ts <id> <role>[,<role>…]
// The key (printed once on stderr) goes to the caller; only the entry (stdout: its SHA-256
// digest, never the key) goes into the config's auth.apiKeys. Roles: merchant, carrier,
// customer-page, admin.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ApiKeyEntry, apiKeyDigest } from '../auth/api-key-auth.js';
import { Role } from '../auth/roles.js';

const USAGE = 'usage: make-api-key.ts <id> <role>[,<role>…]   roles: merchant, carrier, customer-page, admin\n';
if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const Args = z.tuple([z.string(), z.string().transform((s) => s.split(',')).pipe(z.array(Role).min(1))]);
const parsed = Args.safeParse(process.argv.slice(2));
if (!parsed.success) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const [id, roles] = parsed.data;
// 32 random bytes: a key nobody guesses, so one SHA-256 (no slow KDF) is enough to store it.
const key = `lk_${randomBytes(32).toString('base64url')}`;
const entry = ApiKeyEntry.safeParse({ id, roles, sha256: apiKeyDigest(key) });
if (!entry.success) {
  process.stderr.write(`invalid id: ${entry.error.issues[0]?.message ?? 'invalid'}\n`);
  process.exit(2);
}
process.stderr.write(`API key for ${id} (give it to the caller; it is not stored anywhere):\n${key}\n`);
process.stdout.write(`${JSON.stringify(entry.data)}\n`);
