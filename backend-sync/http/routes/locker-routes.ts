import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Locker, LockerDetail, LockerId, LockerInput, LockerListQuery, LockerStatus, SearchHit, SearchQuery } from '../../lockers/locker-schemas.js';
import { KeyringChange } from '../../shared/contract.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';

const LockerParams = z.object({ lockerId: LockerId });

export function lockerRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/lockers',
    {
      schema: {
        tags: ['lockers'],
        summary: 'Register a locker; returns its provisioning bundle (code pepper, keyring) once',
        body: LockerInput,
        response: { 201: z.object({ locker: LockerDetail, provisioning: z.object({ lockerId: z.string(), codePepper: z.string(), keyring: z.array(KeyringChange) }) }), ...errorResponses },
      },
    },
    (req, reply) => {
      reply.code(201);
      return d.lockers.register(req.body);
    },
  );
  r.get(
    '/lockers',
    {
      schema: {
        tags: ['lockers'],
        summary: 'The locker registry in id order, a page at a time (pass `next` as `after` for the following page)',
        querystring: LockerListQuery,
        response: { 200: z.object({ lockers: z.array(Locker), next: LockerId.optional() }), ...errorResponses },
      },
    },
    (req) => d.lockers.list(req.query),
  );
  r.get(
    '/lockers/search',
    {
      schema: {
        tags: ['lockers'],
        summary: 'Nearby lockers with live availability per size, nearest first',
        querystring: SearchQuery,
        response: { 200: z.object({ results: z.array(SearchHit) }), ...errorResponses },
      },
    },
    async (req) => ({ results: await d.lockers.search(req.query) }),
  );
  r.get(
    '/lockers/:lockerId',
    { schema: { tags: ['lockers'], params: LockerParams, response: { 200: LockerDetail, ...errorResponses } } },
    (req) => d.lockers.get(req.params.lockerId),
  );
  r.put(
    '/lockers/:lockerId/status',
    { schema: { tags: ['lockers'], params: LockerParams, body: z.object({ status: LockerStatus }).strict(), response: { 200: LockerDetail, ...errorResponses } } },
    (req) => d.lockers.setStatus(req.params.lockerId, req.body.status),
  );
  r.post(
    '/lockers/:lockerId/courier-credentials',
    {
      schema: {
        tags: ['lockers'],
        summary: 'A courier credential (QR token) bound to this locker',
        params: LockerParams,
        body: z.object({ courierId: z.string().min(1).max(64) }).strict(),
        response: { 201: z.object({ token: z.string(), tokenId: z.string(), expiresAt: z.number().int() }), ...errorResponses },
      },
    },
    async (req, reply) => {
      await d.lockers.get(req.params.lockerId);
      const t = d.tokens.courierToken(req.params.lockerId, req.body.courierId);
      reply.code(201);
      return { token: t.token, tokenId: t.tokenId, expiresAt: t.expiresAt };
    },
  );
  r.get(
    '/lockers/:lockerId/code-set',
    {
      schema: {
        tags: ['lockers'],
        summary: "The locker's versioned code set as the backend holds it, and what the locker acknowledged",
        params: LockerParams,
        response: {
          200: z.object({ version: z.number().int(), digest: z.string(), publishedVersion: z.number().int(), ackedVersion: z.number().int(), ackedDigest: z.string().optional(), liveEntries: z.number().int() }),
          ...errorResponses,
        },
      },
    },
    async (req) => {
      await d.lockers.get(req.params.lockerId);
      const s = await d.store.codeSets.ensure(req.params.lockerId);
      const out: { version: number; digest: string; publishedVersion: number; ackedVersion: number; ackedDigest?: string; liveEntries: number } = {
        version: s.version,
        digest: s.digest,
        publishedVersion: s.publishedVersion,
        ackedVersion: s.ackedVersion,
        liveEntries: (await d.store.codeSets.liveEntries(req.params.lockerId)).length,
      };
      if (s.ackedDigest !== undefined) out.ackedDigest = s.ackedDigest;
      return out;
    },
  );
}
