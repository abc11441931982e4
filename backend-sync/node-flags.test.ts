import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BACKEND_NODE_FLAGS } from './node-flags.js';

// package.json cannot import the flags, so this keeps its script from drifting from them.
describe('the backend process flags', () => {
  it('npm run backend starts node with every flag the backend is measured with', () => {
    const pkg = z.object({ scripts: z.record(z.string(), z.string()) }).parse(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')));
    const script = pkg.scripts['backend'] ?? '';
    expect(script.startsWith('node ')).toBe(true);
    for (const flag of BACKEND_NODE_FLAGS) expect(script.split(/\s+/)).toContain(flag);
    expect(script).toMatch(/--import tsx backend-sync\/main\.ts$/);
  });
});
