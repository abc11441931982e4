import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_DATA_DIR } from './data-dir.js';

// Command-line flags of `npm start` (simulator/main.ts), validated with zod so a wrong
// flag is an error with the usage, never a silently ignored option.

export const usage = `usage: npm start -- [options]
  --data-dir <dir>   where the locker keeps its database, secrets and logs (default ${DEFAULT_DATA_DIR})
  --config <file>    JSON simulator config: a list of lockers (or one locker, the old format), layout,
                     timings, external broker/backend; defaults: three lockers in three cities
  --fresh            wipe the data dir first (a new locker); without it a restart resumes
  --no-demo          skip the scripted demo
  --offline          no embedded MQTT broker and no sync agent (the doors work the same)
  --interactive      open the technician console even when stdin is not a terminal
  --broker-url <url>       an external MQTT broker (e.g. mqtt://127.0.0.1:1883, a real Mosquitto)
  --backend-url <url>      an external backend (with --backend-api-key and --broker-url)
  --backend-api-key <key>  bearer key for the external backend (roles merchant, carrier, admin)
  --i-know-this-is-not-production
                     allow a broker or backend that is not on this machine, or NODE_ENV=production
  --help             this text`;

const argsSchema = z
  .object({
    dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
    config: z.string().min(1).optional(),
    fresh: z.boolean().default(false),
    demo: z.boolean().default(true),
    offline: z.boolean().default(false),
    interactive: z.boolean().default(false),
    brokerUrl: z.string().min(1).optional(),
    backendUrl: z.string().min(1).optional(),
    backendApiKey: z.string().min(1).optional(),
    notProduction: z.boolean().default(false),
    help: z.boolean().default(false),
  })
  .strict();

export type MainArgs = z.infer<typeof argsSchema>;

export type ParsedArgs = { ok: true; args: MainArgs } | { ok: false; error: string };

export function parseMainArgs(argv: readonly string[]): ParsedArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'data-dir': { type: 'string' },
        config: { type: 'string' },
        fresh: { type: 'boolean' },
        'no-demo': { type: 'boolean' },
        offline: { type: 'boolean' },
        interactive: { type: 'boolean' },
        'broker-url': { type: 'string' },
        'backend-url': { type: 'string' },
        'backend-api-key': { type: 'string' },
        'i-know-this-is-not-production': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  const result = argsSchema.safeParse({
    dataDir: values['data-dir'],
    config: values['config'],
    fresh: values['fresh'],
    demo: values['no-demo'] === true ? false : undefined,
    offline: values['offline'],
    interactive: values['interactive'],
    brokerUrl: values['broker-url'],
    backendUrl: values['backend-url'],
    backendApiKey: values['backend-api-key'],
    notProduction: values['i-know-this-is-not-production'],
    help: values['help'],
  });
  if (!result.success) {
    return { ok: false, error: result.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ') };
  }
  return { ok: true, args: result.data };
}
