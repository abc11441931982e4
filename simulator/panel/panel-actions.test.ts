import { describe, expect, it } from 'vitest';
import { actionIsSecret, commandLineOf, PanelAction } from './panel-actions.js';

describe('panel actions', () => {
  it('become the console lines a technician would type', () => {
    const cases: Array<[unknown, string]> = [
      [{ action: 'keys', keys: '1234#' }, 'keys 1234#'],
      [{ action: 'scan', text: ' shp_1 ' }, 'scan shp_1'],
      [{ action: 'door', compartmentId: 'a03', open: true }, 'open A03'],
      [{ action: 'door', compartmentId: 'A03', open: false }, 'close A03'],
      [{ action: 'fault', compartmentId: 'B1', fault: 'stuck-relay' }, 'fault B1 stuck-relay'],
      [{ action: 'clear-fault', compartmentId: 'B1' }, 'clear-fault B1'],
      [{ action: 'service', compartmentId: 'B1', inService: true }, 'service B1 on'],
      [{ action: 'power-cut' }, 'power-cut'],
      [{ action: 'network', up: false }, 'network off'],
      [{ action: 'clock', mode: 'forward', minutes: 90 }, 'clock forward 90m'],
      [{ action: 'clock', mode: 'wall', minutes: -60 }, 'clock wall -60m'],
      [{ action: 'clock', mode: 'wall', minutes: 5 }, 'clock wall +5m'],
      [{ action: 'flood-keypad' }, 'flood 10'],
      [{ action: 'expire' }, 'expire'],
      [{ action: 'retrieve' }, 'retrieve'],
      [{ action: 'command', line: '  status ' }, 'status'],
    ];
    for (const [body, line] of cases) expect(commandLineOf(PanelAction.parse(body)), JSON.stringify(body)).toBe(line);
  });

  it('refuses what the console could misread: a second line, a compartment with spaces, a zero wall jump', () => {
    for (const body of [
      { action: 'scan', text: 'a\nkeys 1#' },
      { action: 'command', line: 'status\nquit' },
      { action: 'fault', compartmentId: 'A 1', fault: 'door-jammed' },
      { action: 'clock', mode: 'wall', minutes: 0 },
    ]) expect(PanelAction.safeParse(body).success, JSON.stringify(body)).toBe(false);
  });

  it('marks keys and scans as secrets so they are never logged', () => {
    expect(actionIsSecret(PanelAction.parse({ action: 'keys', keys: '1' }))).toBe(true);
    expect(actionIsSecret(PanelAction.parse({ action: 'command', line: 'scan v4.public.x' }))).toBe(true);
    expect(actionIsSecret(PanelAction.parse({ action: 'command', line: 'Keys 12#' }))).toBe(true);
    expect(actionIsSecret(PanelAction.parse({ action: 'power-cut' }))).toBe(false);
  });
});
