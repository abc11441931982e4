import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { auditEventSchemas, auditEventTypes } from './audit-events/index.js';
import { AuditAckClaims, MAX_ALSO_SEQS, MAX_PRIORITY_UPLOAD_RECORDS } from './audit-messages.js';
import { SEAL_MARGIN } from './backend-seal.js';
import { MAX_TOKEN_LENGTH } from './tokens/paseto-v4-public.js';
import { topicCatalog } from './catalog.js';
import { CodeBatchManifest } from './code-messages.js';
import { CommandClaims, commandKinds, commandStatuses, compartmentServiceOutcomes, remoteOpenOutcomes } from './command-messages.js';
import { DeviceHealthWire } from './shared-schemas.js';
import { topicSuffixes } from './topics.js';

// docs/protocol.md is written by hand but checked here against the contract: the topic
// table must state exactly the catalogue's direction, QoS, retain flag, type, size limit
// and signing, and every field of every message and seal claim set must be named; the
// audit event table must list exactly the contract's event types, each with exactly its
// schema's fields (optional ones marked `?`).

const doc = readFileSync(join(import.meta.dirname, '../../docs/protocol.md'), 'utf8');

function fieldNames(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodDiscriminatedUnion) return (schema.options as z.ZodType[]).flatMap((o) => fieldNames(o));
  return [];
}

describe('docs/protocol.md', () => {
  const rows = new Map<string, string[]>();
  for (const line of doc.split('\n')) {
    const m = /^\| `lockers\/\{lockerId\}\/([^`]+)` \|(.*)\|$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) rows.set(m[1], m[2].split('|').map((c) => c.trim()));
  }

  it('has one topic row per topic, matching the catalogue', () => {
    expect([...rows.keys()].sort()).toEqual([...topicSuffixes].sort());
    for (const suffix of topicSuffixes) {
      const spec = topicCatalog[suffix];
      expect(rows.get(suffix), suffix).toEqual([
        spec.direction,
        String(spec.qos),
        spec.retained ? 'yes' : 'no',
        `\`${spec.type}\``,
        String(spec.maxBytes),
        spec.signed ? 'yes' : 'no',
      ]);
    }
  });

  it('names every field of every message, seal claim set and health report', () => {
    const schemas: z.ZodType[] = [...topicSuffixes.map((s) => topicCatalog[s].schema), CodeBatchManifest, AuditAckClaims, CommandClaims, DeviceHealthWire];
    const all = [...new Set(schemas.flatMap((s) => fieldNames(s)))];
    expect(all.length).toBeGreaterThan(30);
    const missing = [...new Set(schemas.flatMap((s) => fieldNames(s)))].filter((f) => !doc.includes(`\`${f}\``));
    expect(missing).toEqual([]);
  });

  it('states the audit upload and ack limits the contract sets', () => {
    expect(doc).toContain(`up to ${String(MAX_PRIORITY_UPLOAD_RECORDS)} per message\n(\`MAX_PRIORITY_UPLOAD_RECORDS\``);
    expect(doc).toContain(`\`alsoSeqs\` (≤ ${String(MAX_ALSO_SEQS)} by the schema`);
    expect(doc).toContain(`at most ${String(MAX_TOKEN_LENGTH)} characters (\`MAX_TOKEN_LENGTH\``);
    expect(doc).toContain(`\`SEAL_MARGIN\` (${String(SEAL_MARGIN)} characters)`);
  });

  it('names every command kind, reply status, remote-open and compartment-service outcome', () => {
    const words = [...commandKinds, ...commandStatuses, ...remoteOpenOutcomes, ...compartmentServiceOutcomes];
    expect(words.filter((w) => !doc.includes(`\`${w}\``))).toEqual([]);
  });

  it('lists every audit event type with exactly its schema\'s fields, optional ones marked', () => {
    const events = new Map<string, string>();
    for (const line of doc.split('\n')) {
      const m = /^\| `([a-z-]+\.[a-z-]+)` \| ([^|]*) \|/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined) events.set(m[1], m[2].trim());
    }
    expect([...events.keys()].sort()).toEqual([...auditEventTypes].sort());
    for (const type of auditEventTypes) {
      const shape = (auditEventSchemas[type] as z.ZodObject).shape as Record<string, z.ZodType>;
      const expected = Object.entries(shape).map(([k, v]) => `\`${k}\`${v.safeParse(undefined).success ? '?' : ''}`);
      expect(events.get(type), type).toBe(expected.length === 0 ? '—' : expected.join(', '));
    }
  });
});
