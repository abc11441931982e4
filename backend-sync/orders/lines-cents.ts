/** What these lines cost: the one definition behind order totals, captures and refunds. */
export function linesCents(lines: ReadonlyArray<{ quantity: number; unitPriceCents: number }>): number {
  return lines.reduce((n, l) => n + l.quantity * l.unitPriceCents, 0);
}
