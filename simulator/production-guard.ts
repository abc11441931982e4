import type { ExternalConfig } from './sim-config.js';

// The simulator registers lockers, places orders, opens doors and moves time on whatever
// broker and backend it is pointed at. Pointed at production, that is real parcels and real
// customers' notifications. So it refuses anything that does not look like a developer's
// own machine, unless told explicitly (--i-know-this-is-not-production). Deliberately
// simple and conservative: loopback only, and never with NODE_ENV=production.

export const OVERRIDE_FLAG = '--i-know-this-is-not-production';

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Why this configuration looks like production; empty when it does not. */
export function productionRisks(external: ExternalConfig, env: Readonly<Record<string, string | undefined>>): string[] {
  const risks: string[] = [];
  if (env['NODE_ENV'] === 'production') risks.push('NODE_ENV is production');
  if (external.brokerUrl !== undefined) {
    const url = new URL(external.brokerUrl);
    if (!isLoopback(url.hostname)) risks.push(`the broker ${url.host} is not on this machine${url.protocol === 'mqtts:' ? ' (mqtts to a remote host: a deployed broker)' : ''}`);
  }
  if (external.backendUrl !== undefined) {
    const url = new URL(external.backendUrl);
    if (!isLoopback(url.hostname)) risks.push(`the backend ${url.host} is not localhost`);
  }
  return risks;
}
