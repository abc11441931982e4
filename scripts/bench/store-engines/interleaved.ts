import { median } from '../bench-kit.js';
import { holdInput, type HoldInput } from './hold-schedule.js';
import { cpuMicros } from './server-cpu.js';

// Where the CPU goes, measured so that the machine's other work cannot decide it: the
// variants take turns on ONE database, one caller each, in short rounds, and each figure
// is the median over rounds. Separate runs minutes apart on this shared 2-core machine
// swing by 2–4× in throughput; alternating rounds see the same load.

export interface Contender {
  name: string;
  hold(u: HoldInput): Promise<void>;
  /** The server processes serving this contender, read before each round. */
  serverPids?: () => Promise<number[]>;
}

export interface Attribution {
  name: string;
  perS: number;
  clientCpuUs: number;
  serverCpuUs: number | undefined;
}

export async function interleave(contenders: readonly Contender[], rounds: number, unitsPerRound: number): Promise<Attribution[]> {
  const now = Date.now();
  let i = 0;
  const samples = new Map<string, { perS: number[]; client: number[]; server: number[] }>();
  for (const c of contenders) {
    samples.set(c.name, { perS: [], client: [], server: [] });
    for (let k = 0; k < 50; k++) await c.hold(holdInput('interleaved', i++, now)); // warm-up
  }
  for (let round = 0; round < rounds; round++) {
    for (const c of contenders) {
      const pids = (await c.serverPids?.()) ?? [];
      const server0 = cpuMicros(pids);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let k = 0; k < unitsPerRound; k++) await c.hold(holdInput('interleaved', i++, now));
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const s = samples.get(c.name)!;
      s.perS.push(unitsPerRound / (ms / 1000));
      s.client.push((cpu.user + cpu.system) / unitsPerRound);
      if (c.serverPids !== undefined) s.server.push((cpuMicros(pids) - server0) / unitsPerRound);
    }
  }
  return contenders.map((c) => {
    const s = samples.get(c.name)!;
    return { name: c.name, perS: Math.round(median(s.perS)), clientCpuUs: Math.round(median(s.client)), serverCpuUs: s.server.length > 0 ? Math.round(median(s.server)) : undefined };
  });
}
