import { defineConfig } from 'vitest/config';

// The qemu kernel matrix (npm run test:vm). Boots are slow under software emulation, so timeouts are
// long (a test that boots must outlast runGuest's own job timeout, 15 min in the scan test, so that
// the timeout that ends a slow run is the one that says why); files run one at a time and each file
// manages its own VM concurrency (DAXMON_VM_JOBS).
// `forks`: qemu is started with a parent-death signal, which must be tied to a process, not a thread.
export default defineConfig({
  test: {
    include: ['test/vm/**/*.vm.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 20 * 60_000,
    hookTimeout: 120 * 60_000,
    teardownTimeout: 60_000,
    reporters: ['verbose'],
  },
});
