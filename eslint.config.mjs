// Type-checked lint for the whole workspace, plus Nx module boundaries:
// domain and util libs may not import Nest, the Kafka client or ClickHouse.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

// Apps: the six services, the CLI and the demo's system of record.
const apps = ['gateway', 'planner', 'policy', 'budget', 'executor', 'ledger', 'cli', 'demo'];
const infraPackages = ['@nestjs/*', '@confluentinc/*', '@clickhouse/*', 'chdb', 'chdb/*', 'kafkajs'];

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
            // An app may use shared libs and its own code, never another app's.
            ...apps.map((name) => ({ sourceTag: `scope:${name}`, onlyDependOnLibsWithTags: ['scope:shared', `scope:${name}`] })),
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.generated.ts'],
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
);
