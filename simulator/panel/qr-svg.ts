import qrcode from 'qrcode-generator';

// The pickup QR code as the customer's phone would show it, drawn server-side as SVG so
// the page needs no QR code library. qrcode-generator (no dependencies, its own types,
// maintained) picks the smallest version that holds the text at error correction level M,
// which phone screens and scanners read reliably.

/** undefined: the text is longer than a QR code holds (2,331 bytes at level M). */
export function qrSvg(text: string, cellSize = 3): string | undefined {
  const qr = qrcode(0, 'M');
  // The library keeps only the low byte of each UTF-16 unit: given the UTF-8 bytes one per
  // character, it encodes what a scanner decodes back to the text, not a mangled copy.
  qr.addData(Buffer.from(text, 'utf8').toString('latin1'), 'Byte');
  try {
    qr.make();
  } catch {
    // make() throws only when the data overflows the largest version.
    return undefined;
  }
  return qr.createSvgTag({ cellSize, margin: 4, scalable: true });
}
