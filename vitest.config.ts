import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests import the workspace packages by name; map them to their sources so a
// test run never depends on a stale dist/.
const alias = {
  '@hastack/wire': pkg('wire'),
  '@hastack/stack': pkg('stack'),
  '@hastack/tap': pkg('tap'),
  '@hastack/checkpoint': pkg('checkpoint'),
  '@hastack/cluster': pkg('cluster'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // Unit tests never touch the host network: kernel sockets only to loopback.
          setupFiles: ['scripts/vitest-net-guard.ts'],
          include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
          exclude: ['**/test/lab/**', '**/node_modules/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        extends: true,
        test: {
          name: 'lab',
          include: ['packages/*/test/lab/**/*.test.ts', 'examples/*/test/lab/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
