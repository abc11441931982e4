// The bring-up tool's closing table: one row per check, and an overall verdict.

export type CheckStatus = 'pass' | 'fail' | 'skipped' | 'info';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
}

export function overallPassed(results: readonly CheckResult[]): boolean {
  return results.length > 0 && results.every((r) => r.status !== 'fail');
}

export function formatResultTable(results: readonly CheckResult[]): string {
  const header: CheckResult = { check: 'CHECK', status: 'pass', detail: 'DETAIL' };
  const width = Math.max(...[header, ...results].map((r) => r.check.length));
  const row = (r: CheckResult, status: string): string => `${r.check.padEnd(width)}  ${status.padEnd(7)}  ${r.detail}`.trimEnd();
  const lines = [row(header, 'RESULT'), ...results.map((r) => row(r, r.status.toUpperCase()))];
  lines.push('', overallPassed(results) ? 'BRING-UP PASSED' : 'BRING-UP FAILED');
  return lines.join('\n');
}
