import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeBackend } from '../testing/backend-fixture.js';
import { openApiText } from './openapi.js';

const docPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'openapi.json');

describe('OpenAPI document', () => {
  it('docs/openapi.json matches the route schemas (regenerate with npx tsx backend-sync/http/write-openapi.ts)', async () => {
    const f = await makeBackend();
    try {
      const generated = openApiText(await f.app());
      expect(readFileSync(docPath, 'utf8')).toBe(generated);
    } finally {
      await f.close();
    }
  });

  it('documents every public route with its error responses', async () => {
    const f = await makeBackend();
    try {
      const doc = JSON.parse(openApiText(await f.app())) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/lockers', '/lockers/search', '/reservations', '/orders', '/orders/{orderId}/shipments', '/shipments/{shipmentId}/pickup-extension']));
      expect(Object.keys(doc.paths['/reservations']?.['post']?.responses ?? {})).toEqual(expect.arrayContaining(['201', '400', '404', '409', '422', '429']));
    } finally {
      await f.close();
    }
  });
});
