// Three tiers, each its own project: unit (no I/O), int (real Kafka, ClickHouse engine, Cedar),
// e2e (the whole system through its public doors). Sources run untranspiled-by-tsc through SWC so
// Nest's decorator metadata is present; workspace libs resolve to their TypeScript sources.
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const shared = {
  plugins: [swc.vite({ jsc: { target: 'es2024', transform: { legacyDecorator: true, decoratorMetadata: true } } })],
  resolve: { conditions: ['writ-source', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['writ-source', 'node', 'import', 'default'], externalConditions: ['writ-source'] } },
  // globalSetup files (test/setup/stack.global.ts) run in vitest's own `__vitest__` environment,
  // which ignores the settings above: without this they would load libs' dist/ (stale or missing).
  environments: {
    __vitest__: { resolve: { conditions: ['writ-source', 'node', 'import', 'default'], externalConditions: ['writ-source'] } },
  },
};

export default defineConfig({
  test: {
    projects: [
      { ...shared, test: { name: 'unit', include: ['{libs,services,demo,test}/**/*.unit.spec.ts'], environment: 'node' } },
      {
        ...shared,
        test: {
          name: 'int',
          include: ['{libs,services,demo,test}/**/*.int.spec.ts'],
          globalSetup: ['test/setup/stack.global.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        ...shared,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.spec.ts'],
          globalSetup: ['test/setup/stack.global.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
