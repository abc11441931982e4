import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import type { BatchApplyResult } from '@locker/sync-agent/device-sync-port.js';
import type { CustomerNotice, DemoParcelSource, PreparedParcel } from './demo-scenario.js';
import type { DemoIssuer } from './demo-issuer.js';
import type { LockerSim } from './locker-sim.js';
import { DemoStepError } from './wait-for.js';

// The demo's backend when no backend service runs: tokens signed in-process by the real
// TokenIssuer, the batch handed to the device the way the sync agent hands it over
// (`applyBatch`, normally the runtime's sync port), without a broker in between.

export function localParcelSource(issuer: DemoIssuer, applyBatch: (batch: CodeBatch) => BatchApplyResult): DemoParcelSource {
  // What the backend would send the customer after the deposit, by pickup token id.
  const notices = new Map<string, CustomerNotice>();
  return {
    description: `in-process TokenIssuer (backend key ${issuer.kid}), batch applied through the device's sync port`,
    prepare(sim: LockerSim, request, say): Promise<PreparedParcel> {
      const parcel = { ...request, parcelId: `PCL-${Date.now().toString(36).toUpperCase()}` };
      const codeInUse = (digest: string): boolean => sim.store.findEntryByCodeDigest(digest) !== undefined;
      const courierCredential = issuer.courierCredential('courier-demo');
      const pickup = issuer.pickup(parcel, codeInUse);
      say(`courier credential issued for courier-demo (purpose courier, valid 12 h)`);
      say(`pickup token ${pickup.entry.tokenId} issued (keypad code digest + QR token, valid 72 h)`);
      const batch = issuer.delta(sim.store.codeSetState().version, [pickup.entry]);
      const result = applyBatch(batch);
      if (result.outcome !== 'applied') {
        throw new DemoStepError(`code batch ${String(batch.fromVersion)}→${String(batch.toVersion)} was not applied: ${result.outcome}`);
      }
      say(`code batch ${String(batch.fromVersion)}→${String(batch.toVersion)} applied (1 entry, keyring trusts ${issuer.kid})`);
      notices.set(pickup.entry.tokenId, { code: pickup.code, qrToken: pickup.token });
      return Promise.resolve({
        parcelId: parcel.parcelId,
        compartmentId: parcel.compartmentId,
        pickupTokenId: pickup.entry.tokenId,
        courierCredential,
        wrongCode: issuer.wrongCode(pickup.code, codeInUse),
      });
    },
    customerNotice(_sim, parcel, say): Promise<CustomerNotice> {
      const notice = notices.get(parcel.pickupTokenId);
      if (notice === undefined) return Promise.reject(new DemoStepError('no code was issued for this parcel'));
      say('the customer got the code and QR code with the pickup notice (here: straight from the issuer)');
      return Promise.resolve(notice);
    },
  };
}
