// Defence in depth for the audit log, which leaves the device and is kept for months: no
// record may carry a keypad code, a token or a PIN. Callers are supposed to pass ids and
// digests only; this catches the bug where they do not. Keys are matched by name
// (case-insensitive, at any depth), the same names the logger redacts.

const forbiddenKeys = new Set(['code', 'token', 'pin']);

/** Path of the first forbidden key (e.g. "payload.token"), or undefined. */
export function findSecretKey(value: unknown, path = ''): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findSecretKey(value[i], `${path}[${String(i)}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const keyPath = path === '' ? key : `${path}.${key}`;
    if (forbiddenKeys.has(key.toLowerCase())) return keyPath;
    const found = findSecretKey(inner, keyPath);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A deep copy with every forbidden key's value replaced by "[redacted]". */
export function redactSecretKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => redactSecretKeys(v));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = forbiddenKeys.has(key.toLowerCase()) ? '[redacted]' : redactSecretKeys(inner);
  }
  return out;
}
