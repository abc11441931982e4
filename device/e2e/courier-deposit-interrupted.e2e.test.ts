import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// A courier deposit lives in memory (the session) from the door opening until the door
// closes. A restart in between (a stop or a crash while the courier is at the open door)
// must not leave the parcel in a compartment the locker calls 'free' with its entry still
// awaiting deposit: nobody would be told, and another parcel could be put on top of it
// once the entry's reservation goes (revoked, re-slotted). The locker cannot know whether
// the parcel is inside: the compartment goes out of service and a technician is told.

let h: Harness;

afterEach(async () => {
  await h.close();
});

interface Audit {
  type: string;
  data: Record<string, unknown>;
}

function audit(): Audit[] {
  return h.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 100_000 })
    .concat(h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100_000 }))
    .sort((a, b) => a.seq - b.seq)
    .map((r) => ({ type: r.type, data: JSON.parse(r.dataJson) as Record<string, unknown> }));
}

async function depositDoorOpen(): Promise<string> {
  h = new Harness();
  await h.start();
  await h.scan(h.token('courier', { sub: 'courier-1' }).token);
  const entry = h.addParcel({ parcelId: 'P-INT', compartmentId: 'A02', code: '10203040' });
  await h.scan('P-INT');
  await h.advance(100);
  expect(h.control.doorIsOpen('A02')).toBe(true);
  return entry.tokenId;
}

describe('a courier deposit interrupted by a restart', () => {
  it('takes the compartment out of service and asks a technician when the locker restarts with the deposit door open', async () => {
    const tokenId = await depositDoorOpen();
    await h.restart();
    await h.closeDoor('A02');
    expect(h.store.getCompartment('A02')?.status).toBe('out-of-service');
    expect(audit().find((r) => r.type === 'technician.task')?.data).toMatchObject({
      compartmentId: 'A02',
      task: 'check-compartment',
      cause: 'deposit-interrupted',
      tokenId,
      parcelId: 'P-INT',
      outOfService: true,
    });
    // Nothing is concluded about the entry: a person looks first.
    expect(h.store.findEntryByTokenId(tokenId)?.state).toBe('awaiting-deposit');
  });

  it('never deposits another parcel on top of the interrupted one after its entry is revoked', async () => {
    const tokenId = await depositDoorOpen();
    await h.restart();
    await h.closeDoor('A02');
    h.applyBatch({ revocations: [{ tokenId, reason: 'cancelled' }] });
    await h.scan(h.token('courier', { sub: 'courier-2' }).token);
    h.addParcel({ parcelId: 'P-NEXT', compartmentId: 'A02', code: '10203041' });
    await h.scan('P-NEXT');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
  });

  it('asks a technician when a stop finds the deposit door still undecided', async () => {
    h = new Harness();
    await h.start();
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);
    const entry = h.addParcel({ parcelId: 'P-STUCK', compartmentId: 'A02', code: '10203042' });
    h.control.setBehaviour('A02', { autoOpenOnPulse: false });
    await h.scan('P-STUCK');
    await h.advance(10);
    await h.restart();
    expect(h.store.getCompartment('A02')?.status).toBe('out-of-service');
    expect(audit().find((r) => r.type === 'technician.task')?.data).toMatchObject({ compartmentId: 'A02', cause: 'deposit-interrupted', tokenId: entry.tokenId });
  });

  it('asks nothing after a deposit that was confirmed, or a door that never opened, before the restart', async () => {
    h = new Harness();
    await h.start();
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);
    const done = h.addParcel({ parcelId: 'P-DONE', compartmentId: 'A02', code: '10203043' });
    await h.scan('P-DONE');
    await h.advance(100);
    await h.closeDoor('A02');
    // Jammed doors: A04, then the re-slot to A05, then no other compartment is large enough.
    h.control.setBehaviour('A04', { autoOpenOnPulse: false });
    h.control.setBehaviour('A05', { autoOpenOnPulse: false });
    h.addParcel({ parcelId: 'P-JAM', compartmentId: 'A04', size: 'L', code: '10203044' });
    await h.scan('P-JAM');
    await h.advance(25_000);
    expect(h.pulses('A05')).toBe(1);
    await h.restart();
    expect(h.store.findEntryByTokenId(done.tokenId)).toMatchObject({ state: 'live', currentCompartmentId: 'A02' });
    expect(audit().filter((r) => r.type === 'technician.task')).toEqual([]);
    expect(h.store.getCompartment('A02')?.status).toBe('occupied');
  });
});
