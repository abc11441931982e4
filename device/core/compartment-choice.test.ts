import { describe, expect, it } from 'vitest';
import { chooseCompartment, type CompartmentCandidate } from './compartment-choice.js';

const all: CompartmentCandidate[] = [
  { id: 'A01', size: 'S', status: 'free' },
  { id: 'A02', size: 'M', status: 'occupied' },
  { id: 'A03', size: 'M', status: 'free' },
  { id: 'A04', size: 'L', status: 'free' },
  { id: 'A05', size: 'XL', status: 'out-of-service' },
  { id: 'A06', size: 'L', status: 'free' },
];

describe('compartment choice', () => {
  const table: Array<{ name: string; choice: Parameters<typeof chooseCompartment>[1]; expected: string | undefined }> = [
    { name: 'takes the assigned compartment when it is free', choice: { preferredId: 'A04', minSize: 'M', exclude: new Set() }, expected: 'A04' },
    { name: 'takes the smallest free one of the same size when the assigned one is occupied', choice: { preferredId: 'A02', minSize: 'M', exclude: new Set() }, expected: 'A03' },
    { name: 'moves up a size when none of the same size is free', choice: { preferredId: 'A02', minSize: 'M', exclude: new Set(['A03']) }, expected: 'A04' },
    { name: 'takes a strictly larger one when the parcel does not fit', choice: { minSize: 'M', largerThan: 'M', exclude: new Set(['A03']) }, expected: 'A04' },
    { name: 'never takes an out-of-service compartment', choice: { preferredId: 'A05', minSize: 'XL', exclude: new Set() }, expected: undefined },
    { name: 'never takes a smaller one', choice: { minSize: 'L', exclude: new Set(['A04', 'A06']) }, expected: undefined },
    { name: 'skips excluded compartments even when preferred', choice: { preferredId: 'A04', minSize: 'L', exclude: new Set(['A04']) }, expected: 'A06' },
    { name: 'never takes a free compartment reserved for another parcel', choice: { preferredId: 'A02', minSize: 'M', exclude: new Set(), reserved: new Set(['A03']) }, expected: 'A04' },
    { name: 'never takes a reserved compartment even when it is the preferred one', choice: { preferredId: 'A04', minSize: 'L', exclude: new Set(), reserved: new Set(['A04']) }, expected: 'A06' },
    { name: 'finds nothing when every fitting free compartment is reserved', choice: { minSize: 'L', exclude: new Set(), reserved: new Set(['A04', 'A06']) }, expected: undefined },
  ];
  for (const c of table) {
    it(c.name, () => {
      expect(chooseCompartment(all, c.choice)).toBe(c.expected);
    });
  }
});
