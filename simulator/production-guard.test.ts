import { describe, expect, it } from 'vitest';
import { productionRisks } from './production-guard.js';

describe('production guard', () => {
  it('accepts the embedded setup and loopback brokers and backends', () => {
    expect(productionRisks({}, {})).toEqual([]);
    expect(productionRisks({ brokerUrl: 'mqtt://127.0.0.1:1883', backendUrl: 'http://localhost:8080', backendApiKey: 'k'.repeat(10) }, { NODE_ENV: 'development' })).toEqual([]);
    expect(productionRisks({ brokerUrl: 'mqtt://[::1]:1883' }, {})).toEqual([]);
  });

  it('refuses a remote broker, mqtts on a public host, a remote backend and NODE_ENV=production', () => {
    expect(productionRisks({ brokerUrl: 'mqtt://10.0.0.5:1883' }, {})).toEqual(['the broker 10.0.0.5:1883 is not on this machine']);
    expect(productionRisks({ brokerUrl: 'mqtts://broker.example.com:8883' }, {})[0]).toMatch(/mqtts to a remote host/);
    expect(productionRisks({ brokerUrl: 'mqtt://127.0.0.1:1883', backendUrl: 'https://api.example.com', backendApiKey: 'k'.repeat(10) }, {})).toEqual(['the backend api.example.com is not localhost']);
    expect(productionRisks({}, { NODE_ENV: 'production' })).toEqual(['NODE_ENV is production']);
  });

  it('is not fooled by a host that only starts like loopback', () => {
    expect(productionRisks({ brokerUrl: 'mqtt://127.0.0.1.example.com:1883' }, {})).toHaveLength(1);
    expect(productionRisks({ backendUrl: 'http://localhost.example.com', brokerUrl: 'mqtt://localhost:1', backendApiKey: 'k'.repeat(10) }, {})).toHaveLength(1);
  });
});
