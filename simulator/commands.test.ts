import { describe, expect, it } from 'vitest';
import { commandSpecs, helpText, parseCommand, simFaults } from './commands.js';

function parsed(line: string) {
  const result = parseCommand(line);
  if (!result.ok) throw new Error(`expected '${line}' to parse, got: ${result.error}`);
  return result.command;
}

function error(line: string): string {
  const result = parseCommand(line);
  if (result.ok) throw new Error(`expected '${line}' to be refused`);
  return result.error;
}

describe('console command parser', () => {
  it.each([
    ['keys 12345678#', { name: 'keys', keys: '12345678#' }],
    ['keys 12*c', { name: 'keys', keys: '12*C' }],
    ['scan PARCEL-0001', { name: 'scan', text: 'PARCEL-0001' }],
    ['open a01', { name: 'open', compartmentId: 'A01' }],
    ['pull A01', { name: 'open', compartmentId: 'A01' }],
    ['close A12', { name: 'close', compartmentId: 'A12' }],
    ['fault A01 door-jammed', { name: 'fault', compartmentId: 'A01', fault: 'door-jammed' }],
    ['clear-fault A01', { name: 'clear-fault', compartmentId: 'A01' }],
    ['clear-fault A01 stuck-relay', { name: 'clear-fault', compartmentId: 'A01', fault: 'stuck-relay' }],
    ['auto-open off', { name: 'auto-open', enabled: false }],
    ['auto-open on A03', { name: 'auto-open', enabled: true, compartmentId: 'A03' }],
    ['auto-close 5000', { name: 'auto-close', afterMs: 5000 }],
    ['auto-close off A02', { name: 'auto-close', afterMs: undefined, compartmentId: 'A02' }],
    ['noise keypad', { name: 'noise', source: 'keypad' }],
    ['wait 250', { name: 'wait', ms: 250 }],
    ['parcel', { name: 'parcel' }],
    ['parcel xl', { name: 'parcel', size: 'XL' }],
    ['courier', { name: 'courier' }],
    ['qr', { name: 'qr' }],
    ['qr shp_x-1', { name: 'qr', parcelId: 'shp_x-1' }],
    ['service a01 on', { name: 'service', compartmentId: 'A01', inService: true }],
    ['service A05 off', { name: 'service', compartmentId: 'A05', inService: false }],
    ['status', { name: 'status' }],
    ['display', { name: 'display', count: 10 }],
    ['audit 25', { name: 'audit', count: 25 }],
    ['HELP', { name: 'help' }],
    ['exit', { name: 'quit' }],
  ])('parses %j', (line, command) => {
    expect(parsed(line)).toEqual(command);
  });

  it('accepts every simulated fault the hardware layer can inject', () => {
    for (const fault of simFaults) expect(parsed(`fault A05 ${fault}`)).toMatchObject({ fault });
  });

  it('keeps the spaces inside a scan, because a scan is the rest of the line', () => {
    expect(parsed('scan   hello world  ')).toEqual({ name: 'scan', text: 'hello world' });
  });

  it('parses blank lines and # comments to no command', () => {
    expect(parsed('')).toBeUndefined();
    expect(parsed('   ')).toBeUndefined();
    expect(parsed('# the courier arrives')).toBeUndefined();
  });

  it.each([
    ['frobnicate', /unknown command 'frobnicate'/],
    ['keys', /wrong number of arguments — usage: keys <keys>/],
    ['keys 12a4', /only digits/],
    ['open', /wrong number of arguments/],
    ['open A01 A02', /wrong number of arguments/],
    ['open A01!', /argument 1/],
    ['fault A01 melted', /argument 2: .*door-jammed/],
    ['fault A01', /wrong number of arguments/],
    ['auto-open maybe', /expected one of "on"\|"off"/],
    ['auto-close -5', /usage: auto-close/],
    ['display zero', /expected a number/],
    ['audit 0', /usage: audit \[n\]/],
    ['audit 1 2', /wrong number of arguments/],
    ['status now', /wrong number of arguments/],
    ['wait forever', /expected milliseconds/],
    ['parcel XXL', /usage: parcel/],
    ['parcel S M', /wrong number of arguments/],
    ['wait 99999', /usage: wait/],
    ['scan', /wrong number of arguments/],
    ['scan caf\u00e9', /printable ASCII/],
  ])('refuses %j with a clear message', (line, message) => {
    expect(error(line)).toMatch(message);
  });

  it('never throws, whatever the line', () => {
    const lines = ['\u0000', 'keys '.repeat(10_000), 'scan ' + 'x'.repeat(70_000), '🙂', 'open ../../etc', '\t\t', 'fault'];
    for (const line of lines) expect(() => parseCommand(line)).not.toThrow();
  });

  it('lists every command in the help text', () => {
    const help = helpText();
    for (const spec of Object.values(commandSpecs)) expect(help).toContain(spec.usage);
  });
});

describe('console commands for lockers, time, network and power', () => {
  it.each([
    ['use sim-locker-2', { name: 'use', lockerId: 'sim-locker-2' }],
    ['lockers', { name: 'lockers' }],
    ['clock', { name: 'clock', action: 'show' }],
    ['clock forward 73h', { name: 'clock', action: 'forward', ms: 73 * 3_600_000 }],
    ['clock forward 1.5m', { name: 'clock', action: 'forward', ms: 90_000 }],
    ['clock wall -1h', { name: 'clock', action: 'wall', ms: -3_600_000 }],
    ['clock wall +500ms', { name: 'clock', action: 'wall', ms: 500 }],
    ['expire', { name: 'expire' }],
    ['retrieve', { name: 'retrieve' }],
    ['retrieval shp_abc', { name: 'retrieve', parcelId: 'shp_abc' }],
    ['return shp_abc', { name: 'return', parcelId: 'shp_abc' }],
    ['network off', { name: 'network', up: false }],
    ['power-cut', { name: 'power-cut', afterMs: 0, offMs: 200 }],
    ['power-cut 250 1000', { name: 'power-cut', afterMs: 250, offMs: 1000 }],
    ['flood', { name: 'flood', codes: 10 }],
    ['flood 3', { name: 'flood', codes: 3 }],
    ['service-open a03', { name: 'service-open', compartmentId: 'A03' }],
    ['remote-open A04', { name: 'remote-open', compartmentId: 'A04' }],
    ['notices', { name: 'notices' }],
  ])('parses %s', (line, command) => {
    expect(parsed(line)).toEqual(command);
  });

  it.each([
    ['clock forward -1h', /duration such as 90s/],
    ['clock back 1h', /./],
    ['clock wall 1x', /signed duration/],
    ['network maybe', /./],
    ['power-cut soon', /expected milliseconds/],
    ['power-cut 1 2 3', /wrong number of arguments/],
  ])('refuses %s', (line, message) => {
    expect(error(line)).toMatch(message);
  });
});
