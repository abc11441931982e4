import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

// Serial ports for the bring-up tool. serialport's list() runs `udevadm`, and rejects with
// `spawn udevadm ENOENT` where there is no udev (a minimal image, a container): then the
// ports are read from /dev instead, so a technician still sees them.

export interface SerialPortEntry {
  path: string;
  /** USB ids or the /dev/serial/by-id name, when known. */
  description?: string;
}

export interface SerialPortListing {
  ports: SerialPortEntry[];
  /** 'udev' through serialport, or 'dev' when udev was unavailable. */
  source: 'udev' | 'dev';
  /** Why the udev listing was not used, if it was not. */
  fallbackReason?: string;
}

type UdevList = () => Promise<Array<{ path: string; manufacturer?: string | undefined; vendorId?: string | undefined; productId?: string | undefined }>>;

const TTY = /^(ttyUSB|ttyACM|ttyAMA|ttyS|serial)[0-9]+$/;

export async function listSerialPorts(options: { udevList?: UdevList; devDir?: string } = {}): Promise<SerialPortListing> {
  const devDir = options.devDir ?? '/dev';
  try {
    const list = options.udevList ?? (await import('serialport')).SerialPort.list;
    const found = await list();
    return {
      source: 'udev',
      ports: found.map((p) => {
        const ids = [p.manufacturer, p.vendorId === undefined ? undefined : `${p.vendorId}:${p.productId ?? '?'}`].filter((v) => v !== undefined);
        return ids.length === 0 ? { path: p.path } : { path: p.path, description: ids.join(' ') };
      }),
    };
  } catch (error) {
    return { source: 'dev', ports: listFromDev(devDir), fallbackReason: error instanceof Error ? error.message : String(error) };
  }
}

function listFromDev(devDir: string): SerialPortEntry[] {
  const byId = new Map<string, string>();
  try {
    for (const name of readdirSync(join(devDir, 'serial', 'by-id'))) {
      const target = readlinkSync(join(devDir, 'serial', 'by-id', name));
      byId.set(target.split('/').pop() ?? target, name);
    }
  } catch {
    // No /dev/serial/by-id: no USB serial adapter plugged in, or no udev to create it.
  }
  let names: string[];
  try {
    names = readdirSync(devDir).filter((n) => TTY.test(n));
  } catch {
    return [];
  }
  // ttyS0-31 exist on every PC whether wired or not: show them only when nothing better is there.
  const useful = names.filter((n) => !n.startsWith('ttyS'));
  return (useful.length > 0 ? useful : names).sort().map((n) => {
    const description = byId.get(n);
    return description === undefined ? { path: join(devDir, n) } : { path: join(devDir, n), description };
  });
}
