// Type-checked lint for the whole workspace, plus Nx module boundaries:
// domain and util libs may not import Nest, the Kafka client or ClickHouse.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

// Apps: the six services, the CLI and the demo's system of record.
const apps = ['gateway', 'planner', 'policy', 'budget', 'executor', 'ledger', 'cli', 'demo'];
const infraPackages = ['@nestjs/*', '@confluentinc/*', '@clickhouse/*', 'chdb', 'chdb/*', 'kafkajs'];
const NO_CLOCK = 'A domain library takes `now` from its caller (no clock).';
const NO_TIMERS = 'A domain library sets no timers: it returns deadlines and its runtime schedules them.';
// Libraries tagged type:domain (their package.json): pure, see the rule below.
const domainLibs = [
  'budget-core',
  'directory',
  'executor-core',
  'gateway-core',
  'ledger-core',
  'planner-core',
  'policy-engine',
  'policy-service-core',
  'tools',
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.local/**', '.nx/**', 'coverage/**', 'tmp/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: {
        // One program over every file (sources, specs, benches): see tsconfig.spec.json.
        project: './tsconfig.spec.json',
        tsconfigRootDir: import.meta.dirname,
        emitDecoratorMetadata: true,
        experimentalDecorators: true,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          enforceBuildableLibDependency: false,
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:util'] },
            { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:util'] },
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:util'] },
            {
              sourceTag: 'type:domain',
              onlyDependOnLibsWithTags: ['type:domain', 'type:util'],
              bannedExternalImports: infraPackages,
            },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: infraPackages },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            // An app may use shared libs and its own code (its service's core is tagged with its
            // scope), never another app's. The CLI verifies and exports the ledger's chains with
            // the ledger's own code, and replays a run's budget with the accountant's (budget-core).
            ...apps.map((name) => ({
              sourceTag: `scope:${name}`,
              onlyDependOnLibsWithTags: ['scope:shared', `scope:${name}`, ...(name === 'cli' ? ['scope:ledger', 'scope:budget'] : [])],
            })),
          ],
        },
      ],
    },
  },
  {
    // Deciders stay pure: a domain library gets its clock, ids and randomness from its caller and
    // does no I/O, so the same inputs always give the same decisions (replays, backtests, tests).
    files: domainLibs.map((name) => `libs/${name}/src/**/*.ts`),
    ignores: [
      '**/*.spec.ts',
      '**/testing/**',
      // The loaders at a library's edge: they read a folder or a file at boot (and the directory
      // follows its file live) and hand the decisions plain values; nothing they read is decided on
      // until a service passes it in.
      'libs/directory/src/load.ts',
      'libs/directory/src/live.ts',
      'libs/tools/src/registry.ts',
      'libs/policy-engine/src/policy-set.ts',
      'libs/policy-engine/src/cases.ts',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='Date'][property.name='now']", message: NO_CLOCK },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: NO_CLOCK },
        { selector: "MemberExpression[object.name='performance'][property.name='now']", message: NO_CLOCK },
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'A domain library takes randomness from its caller.' },
        {
          selector: "MemberExpression[object.name='crypto'][property.name=/^(randomUUID|getRandomValues)$/]",
          message: 'A domain library takes ids from its caller.',
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'A domain library reads no environment and no process state: its caller passes them.' },
        { name: 'fetch', message: 'A domain library does no I/O: its caller does it (e.g. the executor passes an HttpFetch).' },
        { name: 'setTimeout', message: NO_TIMERS },
        { name: 'setInterval', message: NO_TIMERS },
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'node:crypto',
              importNames: ['randomUUID', 'randomBytes', 'randomInt', 'getRandomValues'],
              message: 'A domain library takes ids and randomness from its caller.',
            },
            { name: 'uuid', message: 'A domain library takes ids from its caller.' },
            {
              name: '@writ/contracts',
              importNames: ['newMetadata', 'uuidv7'],
              message: 'A domain library takes ids and times from its caller (a MetadataFactory).',
            },
          ],
          patterns: [
            {
              group: [
                'node:fs',
                'node:fs/*',
                'fs',
                'fs/*',
                'node:net',
                'node:http',
                'node:https',
                'node:child_process',
                'node:dgram',
                'node:dns',
                'node:os',
                'node:worker_threads',
              ],
              message: 'A domain library does no I/O: its caller reads, writes and sends.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.generated.ts'],
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
  {
    // The console's views (Preact JSX, DOM types): their own program, libs/console-ui/tsconfig.json.
    files: ['libs/console-ui/src/**/*.tsx'],
    extends: [tseslint.configs.recommended],
    languageOptions: { parserOptions: { project: './libs/console-ui/tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
