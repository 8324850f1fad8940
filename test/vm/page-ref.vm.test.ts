import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultCacheDir, ensureUserKernel, killAllQemu, runGuest } from '../../lab/src/index.js';
import { REPO_DIR, userKernelFromEnv } from './matrix.js';
import { MEMMAP_PAGES, MEMMAP_PFN } from './privilege-job.js';
import { buildViowl } from './violations/run.js';

// What a CONFIG_DEBUG_PAGE_REF kernel offers daxmon (issue 17, item 4's ground): the page_ref:*
// tracepoints, their fields, and that they fire for DAX pages. Needs such a kernel, given like the
// matrix's (DAXMON_VM_USER_KERNEL + _MODULES + _CONFIG, or DAXMON_VM_KERNEL_TREE): the project's
// debug build (`npm run lab:buildroot -- --debug-kernel` prints the variables). Skipped otherwise.
// The workload is viowl's healthy lifecycle (write faults, a fork, a PMD fault, a vmsplice pin
// drained, munmap, truncate) on memmap pmem; bpftrace counts page_ref events on the pmem's pfns.
const user = userKernelFromEnv(process.env);

afterAll(() => killAllQemu());

const EVENTS = [
  'page_ref_set',
  'page_ref_mod',
  'page_ref_mod_and_test',
  'page_ref_mod_and_return',
  'page_ref_mod_unless',
  'page_ref_freeze',
  'page_ref_unfreeze',
];

describe.skipIf(!user)('page_ref tracepoints on a DEBUG_PAGE_REF kernel', () => {
  it('lists every page_ref event with pfn, count, mapcount (val, ret), and they fire for DAX pages', async () => {
    const cacheDir = defaultCacheDir();
    const kernel = await ensureUserKernel(user!.source, { cacheDir });
    const viowl = await buildViowl(cacheDir);
    const lo = MEMMAP_PFN;
    const hi = MEMMAP_PFN + MEMMAP_PAGES;
    const probes = EVENTS.map((e) => `tracepoint:page_ref:${e}`).join(',');
    const job = [
      'T=/sys/kernel/tracing/events/page_ref',
      '[ -d $T ] || mount -t tracefs nodev /sys/kernel/tracing',
      'ls $T > "$DAXMON_RESULTS/events.txt"',
      `for e in ${EVENTS.join(' ')}; do echo "== $e"; cat $T/$e/format; done > "$DAXMON_RESULTS/formats.txt" 2>&1`,
      `daxmon_bg_start bt bpftrace -e '${probes} /args->pfn >= ${lo} && args->pfn < ${hi}/ { @[probe] = count(); } END { print(@); }'`,
      'daxmon_bg_wait_for bt Attaching 120 || daxmon_fail "bpftrace did not attach"',
      'sleep 2',
      `${viowl} healthy "$DAX_MNT/pr" > "$DAXMON_RESULTS/viowl.out" 2>&1 || daxmon_fail "viowl failed"`,
      'daxmon_bg_stop bt INT 30',
    ].join('\n');
    const guest = await runGuest({
      kernel,
      pmem: 'memmap',
      fs: 'ext4',
      job,
      shares: [
        { hostPath: REPO_DIR, readonly: true },
        { hostPath: dirname(viowl), readonly: true },
      ],
      cacheDir,
      label: `page-ref-${kernel.release}`,
    });
    const ctx = `console: ${guest.consoleLog}; results: ${guest.resultsDir}`;
    expect(guest.status, ctx).toBe('done');
    expect(guest.jobExitCode, ctx).toBe(0);
    const listed = (await readFile(join(guest.resultsDir, 'events.txt'), 'utf8')).split('\n');
    for (const e of EVENTS) expect(listed, ctx).toContain(e);
    const formats = await readFile(join(guest.resultsDir, 'formats.txt'), 'utf8');
    for (const f of ['pfn', 'flags', 'count', 'mapcount', 'mapping', 'mt', 'val'])
      expect(formats, `field ${f}`).toMatch(new RegExp(`field:[^;]*\\b${f};`));
    expect(formats).toMatch(/== page_ref_mod_and_test[\s\S]*field:int ret;/);
    const out = await readFile(join(guest.resultsDir, 'bt.out'), 'utf8');
    const counts = Object.fromEntries(
      [...out.matchAll(/^@\[tracepoint:page_ref:(\w+)\]: (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]),
    );
    process.stderr.write(`PAGE_REF FIGURES ${JSON.stringify({ release: kernel.release, counts })}\n`);
    // the healthy lifecycle takes and drops references on DAX pages: gets (mod), puts (mod_and_test)
    expect(counts.page_ref_mod ?? 0, out).toBeGreaterThan(0);
    expect(counts.page_ref_mod_and_test ?? 0, out).toBeGreaterThan(0);
  });
});
