import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { BackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

// Keypad codes at rest. Between shipment creation and the "ready for pickup" notice a code
// has to be stored (shipments.pending_code, then the notification row): it is sealed with
// AES-256-GCM under a data key kept beside the signing keys, never in the database, so a
// copy of the database (backup, replica, stolen file) holds no usable code. The shipment
// id is the associated data: a sealed code moved to another row does not open.
//
// The key file (32 random bytes, base64url) is created on first load if absent, mode 0600,
// like the simulator's signing key; it is never committed. Losing it loses only the codes
// not yet sent (those parcels need a re-issue), never anything already delivered.

const PREFIX = 'gcm1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class CodeBox {
  private key: Buffer | undefined;

  constructor(
    private readonly keyFile: string,
    private readonly logger: Logger,
  ) {}

  /** Reads the data key, creating it when the file does not exist yet. */
  load(): void {
    const log = this.logger.child({ component: 'code-box' });
    let text: string;
    try {
      text = readFileSync(this.keyFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new BackendError('CONFIG_INVALID', 'cannot read the code data key', { file: this.keyFile, cause: String(err) });
      // Written whole to a private file, then linked into place: several instances starting
      // on one keys dir never overwrite each other's key, nor read one half written.
      const draft = `${this.keyFile}.${String(process.pid)}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        writeFileSync(draft, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
        linkSync(draft, this.keyFile);
        log.info({ file: this.keyFile }, 'code_key.created');
      } catch (werr) {
        if ((werr as NodeJS.ErrnoException).code !== 'EEXIST') throw new BackendError('CONFIG_INVALID', 'cannot create the code data key', { file: this.keyFile, cause: String(werr) });
      } finally {
        rmSync(draft, { force: true });
      }
      text = readFileSync(this.keyFile, 'utf8');
    }
    const key = Buffer.from(text.trim(), 'base64url');
    if (key.length !== 32) throw new BackendError('CONFIG_INVALID', 'the code data key is not 32 bytes of base64url', { file: this.keyFile });
    this.key = key;
  }

  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(PREFIX);
  }

  seal(code: string, shipmentId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.dataKey(), iv);
    cipher.setAAD(aad(shipmentId));
    const ct = Buffer.concat([cipher.update(code, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64url');
  }

  /** The clear code; INTERNAL when the value was not sealed for this shipment with this key. */
  open(sealed: string, shipmentId: string): string {
    const raw = sealed.startsWith(PREFIX) ? Buffer.from(sealed.slice(PREFIX.length), 'base64url') : Buffer.alloc(0);
    if (raw.length <= IV_BYTES + TAG_BYTES) throw new BackendError('INTERNAL', 'sealed code is malformed', { shipmentId });
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.dataKey(), raw.subarray(0, IV_BYTES));
      decipher.setAAD(aad(shipmentId));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new BackendError('INTERNAL', 'sealed code does not open (other shipment or other data key)', { shipmentId });
    }
  }

  private dataKey(): Buffer {
    if (this.key === undefined) throw new BackendError('INTERNAL', 'code data key not loaded');
    return this.key;
  }
}

function aad(shipmentId: string): Buffer {
  return Buffer.from(`pending-code:${shipmentId}`, 'utf8');
}
