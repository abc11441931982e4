import { BackendError } from '../shared/errors.js';

/**
 * For a maintenance tool that must not migrate: the database is at exactly this code's
 * schema version, or the error says which way it is off and what to do.
 */
export function requireCurrentSchema(databaseVersion: number, codeVersion: number): void {
  if (databaseVersion > codeVersion) {
    throw new BackendError('DB_TOO_NEW', 'the database was migrated by a newer backend: run the tool of the release the instances run', { databaseVersion, codeVersion });
  }
  if (databaseVersion < codeVersion) {
    const what = databaseVersion === 0 ? 'holds no backend schema' : 'is at an older schema';
    throw new BackendError('CONFIG_INVALID', `the database ${what} than this tool's release: run the tool of the release the instances run, or start this release's backend once to migrate`, { databaseVersion, codeVersion });
  }
}
