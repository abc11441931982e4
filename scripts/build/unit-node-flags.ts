/**
 * The node flags of a systemd unit's ExecStart (the words starting with `--` between the
 * node binary and the script), so the bench and the release test run the device exactly as
 * the unit does (device/deploy/locker-device.service, decision 0028).
 */
export function unitNodeFlags(unitText: string): string[] {
  const line = unitText.split('\n').find((l) => l.startsWith('ExecStart='));
  if (line === undefined) throw new Error('the unit has no ExecStart');
  const words = line.slice('ExecStart='.length).trim().split(/\s+/);
  const script = words.findIndex((w, i) => i > 0 && !w.startsWith('--'));
  return words.slice(1, script < 0 ? undefined : script);
}
