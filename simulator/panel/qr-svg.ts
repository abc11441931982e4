import qrcode from 'qrcode-generator';

// The pickup QR code as the customer's phone would show it, drawn server-side as SVG so
// the page needs no QR code library. qrcode-generator (no dependencies, its own types,
// maintained) picks the smallest version that holds the text at error correction level M,
// which phone screens and scanners read reliably.

export function qrSvg(text: string, cellSize = 3): string {
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  return qr.createSvgTag({ cellSize, margin: 4, scalable: true });
}
