/**
 * `npm run lab:buildroot [-- options]`: makes (or reuses) the trixie build root and, with --hmm,
 * builds the kernel's HMM test driver and hmm-tests for the lab's 7.3 kernel; with --debug-kernel,
 * the project's own debug build of that kernel (debug-kernel.ts).
 */
import { parseArgs } from 'node:util';
import { describeError } from '../../src/errors/log-fields.js';
import { ensureBuildRoot } from './buildroot.js';
import { ensureDebugKernel } from './debug-kernel.js';
import { ensureHmmBuild } from './hmm.js';
import { ensureKernel } from './kernels.js';
import { defaultCacheDir } from './paths.js';

const HELP = `Usage: npm run lab:buildroot [-- --hmm] [-- --debug-kernel] [-- --series 7]

Makes the Debian trixie build root (debootstrap --variant=minbase with gcc-14 and kbuild's tools)
in $DAXMON_CACHE/buildroot/<key> (default ~/.cache/daxmon), or reuses it when suite, package list
and mirror are unchanged. Needs root and debootstrap. Prints the root's folder and how long it took.

  --hmm          also build test_hmm.ko and a static hmm-tests for the kernel series' guest kernel
                 (Debian's linux-source and linux-headers debs, unpacked into the cache)
  --debug-kernel also build the project's debug kernel: Debian's linux-source of the series (7.3.4),
                 Debian's config narrowed to the lab's modules plus \`daxmon kconfig\`'s fragment
                 (DEBUG_PAGE_REF, TEST_HMM, ...), into $DAXMON_CACHE/debug-kernel/<key>; about
                 BUILD_MINUTES min on 2 cores the first time, then reused. Prints how to boot it.
  --series ID    the kernel series for --hmm and --debug-kernel (default 7)
  -h, --help     this text

Environment: DAXMON_CACHE, DAXMON_BUILDROOT_MIRROR (default http://deb.debian.org/debian).
See docs/vm-lab.md, "Build root".`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      hmm: { type: 'boolean', default: false },
      'debug-kernel': { type: 'boolean', default: false },
      series: { type: 'string', default: '7' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const cacheDir = defaultCacheDir();
  const log = (m: string): void => {
    process.stderr.write(`daxmon buildroot: ${m}\n`);
  };
  const root = await ensureBuildRoot({ cacheDir, log });
  log(`${root.fresh ? 'built' : 'reused'} ${root.dir} in ${(root.elapsedMs / 1000).toFixed(1)} s`);
  if (values.hmm) {
    const kernel = await ensureKernel(values.series, { cacheDir, log });
    const hmm = await ensureHmmBuild({ cacheDir, kernel, buildRoot: root, log });
    log(
      `${hmm.fresh ? 'built' : 'reused'} ${hmm.module} (vermagic ${hmm.vermagic}) and ${hmm.tests} in ${(hmm.elapsedMs / 1000).toFixed(1)} s`,
    );
  }
  if (values['debug-kernel']) {
    const kernel = await ensureKernel(values.series, { cacheDir, log });
    const dk = await ensureDebugKernel({ cacheDir, kernel, buildRoot: root, log });
    log(
      `${dk.fresh ? 'built' : 'reused'} debug kernel ${dk.release} (make took ${(dk.buildSeconds / 60).toFixed(1)} min) in ${(dk.elapsedMs / 1000).toFixed(1)} s`,
    );
    const { image, modules, config } = dk.source;
    process.stdout.write(
      `daxmon lab --kernel ${image} --modules ${modules} --config ${config}\n` +
        `DAXMON_VM_USER_KERNEL=${image} DAXMON_VM_USER_MODULES=${modules} DAXMON_VM_USER_CONFIG=${config} ` +
        `npx vitest run -c vitest.vm.config.ts test/vm/matrix.vm.test.ts\n`,
    );
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`daxmon buildroot: ${describeError(err)}\n`);
    process.exit(1);
  },
);
