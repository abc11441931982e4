import { randomInt } from 'node:crypto';

// A keypad code: `digits` decimal digits from the CSPRNG, leading zeros kept (the keypad
// accepts them), so every value of the space is equally likely.
export function newKeypadCode(digits: number): string {
  let out = '';
  // randomInt's range is limited to < 2^48; draw in chunks of 6 digits.
  for (let left = digits; left > 0; left -= 6) {
    const n = Math.min(6, left);
    out += String(randomInt(0, 10 ** n)).padStart(n, '0');
  }
  return out;
}
