import { readFileSync } from 'node:fs';
import { scenarioSchema, type Scenario } from './scenario-schema.js';

export class ScenarioFileError extends Error {
  override readonly name = 'ScenarioFileError';
}

/** Reads and validates a scenario file; throws ScenarioFileError with every issue. */
export function loadScenario(path: string): Scenario {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new ScenarioFileError(`${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const parsed = scenarioSchema.safeParse(json);
  if (!parsed.success) {
    throw new ScenarioFileError(`${path}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}
