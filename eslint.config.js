// @ts-check
import tseslint from 'typescript-eslint';

// Package boundaries (docs/architecture.md): the contract imports neither side; the backend
// never imports the device, the HAL or the sync agent; the device never imports the backend.
// A package reaches another only by its name (@locker/...), never by a relative path that
// climbs out of its own folder. Tests may also use the harness package @locker/sync-testing.
const hardwareLibraries = {
  paths: [
    { name: 'onoff', message: 'Only hal/ may import onoff.' },
    { name: 'serialport', message: 'Only hal/ may import serialport.' },
  ],
  patterns: [{ group: ['@serialport/*'], message: 'Only hal/ may import serialport.' }],
};
const climbsOutOfPackage = [
  { regex: '^(\\.\\./)+(hal|device|sync|backend-sync|simulator|scripts)/', message: 'Import another package by its @locker/ name, not by a relative path.' },
];
const climbsOutOfSyncPackage = [
  { regex: '^(\\.\\./)+(contract|agent|testing|mosquitto)/', message: 'Import another package by its @locker/ name, not by a relative path.' },
];
const forbid = (packages, why) => packages.map((p) => ({ group: [`@locker/${p}`, `@locker/${p}/*`], message: why }));

/** @param {string[]} files @param {object[]} patterns @param {boolean} allowHardware */
const boundary = (files, patterns, allowHardware = false) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', {
      paths: allowHardware ? [] : hardwareLibraries.paths,
      patterns: [...(allowHardware ? [] : hardwareLibraries.patterns), ...climbsOutOfPackage, ...patterns],
    }],
  },
});
const tests = ['**/*.test.ts', '**/*.suite.ts', '**/testing/**', '**/e2e/**'];

export default tseslint.config(
  { ignores: ['eslint.config.js', '**/dist/**', 'node_modules/**', 'coverage/**', 'simulator/web/**/*.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { ...hardwareLibraries, patterns: [...hardwareLibraries.patterns, ...climbsOutOfPackage] }],
    },
  },
  boundary(['hal/**/*.ts'], forbid(['contract', 'device', 'sync-agent', 'sync-testing', 'backend', 'simulator'], 'The HAL is the ground floor: it imports no other package.'), true),
  boundary(['sync/contract/**/*.ts'], [
    ...climbsOutOfSyncPackage,
    ...forbid(['hal', 'device', 'sync-agent', 'sync-testing', 'backend', 'simulator'], 'The wire contract imports neither side.'),
  ]),
  boundary(['sync/agent/**/*.ts'], [
    ...climbsOutOfSyncPackage,
    ...forbid(['device', 'backend', 'simulator', 'sync-testing'], 'The sync agent depends on the contract and the HAL clock only; the device implements its port.'),
  ]),
  // The harness package is test-only: it may build a whole locker and a whole backend (full-stack tests).
  boundary(['sync/testing/**/*.ts'], [...climbsOutOfSyncPackage, ...forbid(['simulator'], 'Test harnesses never import the simulator.')]),
  boundary(['device/**/*.ts'], forbid(['backend', 'simulator', 'sync-testing'], 'The device never imports the backend or the simulator.')),
  boundary(['backend-sync/**/*.ts'], forbid(['device', 'hal', 'sync-agent', 'simulator', 'sync-testing'], 'The backend shares only @locker/contract with the device.')),
  // Tests may use the shared harnesses; production code may not.
  boundary(['sync/agent/**/*.test.ts', 'sync/agent/**/*.suite.ts'], [...climbsOutOfSyncPackage, ...forbid(['backend', 'simulator'], 'Sync agent tests do not import the backend.')]),
  boundary(['device/**/*.test.ts', 'device/**/e2e/**', 'device/**/*.suite.ts'], forbid(['backend', 'simulator'], 'Device tests never import the backend.')),
  boundary(['backend-sync/**/*.test.ts', 'backend-sync/**/*.suite.ts', 'backend-sync/testing/**'], forbid(['device', 'hal', 'sync-agent', 'simulator'], 'Backend tests reach a locker only through @locker/sync-testing.')),
  boundary(['sync/contract/**/*.test.ts'], [...climbsOutOfSyncPackage, ...forbid(['hal', 'device', 'sync-agent', 'sync-testing', 'backend', 'simulator'], 'The wire contract imports neither side.')]),
  // The technician panel's browser modules (plain ES modules, no build): linted without type information.
  { files: ['simulator/panel/static/**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: tests.concat(['scripts/**/*.ts']),
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
