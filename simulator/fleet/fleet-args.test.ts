import { describe, expect, it } from 'vitest';
import { parseFleetArgs, UsageError } from './fleet-args.js';

describe('fleet flags', () => {
  it('runs ten lockers on the embedded broker over MQTT 3.1.1 by default, one worker per 250 lockers', () => {
    const cli = parseFleetArgs([]);
    expect(cli.setup).toMatchObject({ lockers: 10, workers: 1, compartments: 4, size: 'M', mqttUrl: undefined, mqttProtocol: 4, backend: undefined });
    expect(cli.load).toMatchObject({ rate: 10, durationS: 30, pickupShare: 1 });
    expect(parseFleetArgs(['--lockers', '1000']).setup.workers).toBe(4);
    expect(parseFleetArgs(['--lockers', '3', '--workers', '8']).setup.workers).toBe(3);
  });

  it('speaks MQTT 5 to an external broker and spreads reconnects with full jitter under the given cap', () => {
    const cli = parseFleetArgs(['--mqtt-url', 'mqtt://127.0.0.1:1883', '--reconnect-max-ms', '1500']);
    expect(cli.setup.mqttProtocol).toBe(5);
    expect(cli.setup.agent.reconnect).toMatchObject({ jitter: 1, promptMaxMs: 1500 });
  });

  it('refuses what cannot work, naming the flag', () => {
    expect(() => parseFleetArgs(['--mqtt-protocol', '5'])).toThrow(/aedes\) speaks MQTT 3.1.1 only/);
    expect(() => parseFleetArgs(['--backend-url', 'http://10.0.0.5:8080', '--api-key', 'k'])).toThrow(/needs --api-key, --webhook-port and --webhook-secret/);
    expect(() => parseFleetArgs(['--pickup-share', '2'])).toThrow(/--pickup-share/);
    expect(() => parseFleetArgs(['--lockers', 'many'])).toThrow(UsageError);
    expect(() => parseFleetArgs(['--nonsense'])).toThrow(UsageError);
  });

  it('takes an external backend with the webhook the fleet listens on', () => {
    const cli = parseFleetArgs(['--backend-url', 'http://10.0.0.5:8080', '--api-key', 'lk_x', '--webhook-port', '9900', '--webhook-secret', '0123456789abcdef0123']);
    expect(cli.setup.backend).toEqual({ url: 'http://10.0.0.5:8080', apiKey: 'lk_x', webhookPort: 9900, webhookSecret: '0123456789abcdef0123' });
  });
});
