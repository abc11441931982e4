import { afterAll, afterEach, beforeEach } from 'vitest';
import { makeBackend, type BackendFixture } from './backend-fixture.js';
import { dropSchema, freshSchemaName } from './pg-test-db.js';

/**
 * Registers hooks giving each test two backend instances on one fresh PostgreSQL schema, with
 * one clock and one payment provider (instance A's), as a real deployment has them. Call
 * inside a describe; read the instances through the returned getters.
 */
export function twoInstancesSharingPayments(): { a: () => BackendFixture; b: () => BackendFixture } {
  let a: BackendFixture | undefined;
  let b: BackendFixture | undefined;
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });
  beforeEach(async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const first = await makeBackend({ engine: 'postgres', pgSchema: schema });
    const second = await makeBackend({ engine: 'postgres', pgSchema: schema, dir: first.dir, clock: first.clock });
    second.payments.capture = (req) => first.payments.capture(req);
    second.payments.refund = (req) => first.payments.refund(req);
    a = first;
    b = second;
  });
  afterEach(async () => {
    await b?.close();
    await a?.close();
  });
  const get = (f: BackendFixture | undefined): BackendFixture => {
    if (f === undefined) throw new Error('two instances are set up in beforeEach');
    return f;
  };
  return { a: () => get(a), b: () => get(b) };
}
