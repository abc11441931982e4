// Regenerates docs/openapi.json from the route schemas:
//   npx tsx backend-sync/http/write-openapi.ts
// (openapi.test.ts fails when the committed file and the schemas disagree.)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBackend } from '../testing/backend-fixture.js';
import { openApiText } from './openapi.js';

const target = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'openapi.json');
const f = await makeBackend();
const app = await f.app();
writeFileSync(target, openApiText(app));
await f.close();
process.stdout.write(`wrote ${target}\n`);
