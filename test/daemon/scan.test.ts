// The struct-page scanner under an unprivileged daxmon (docs/privileges.md): it used to need
// uid 0, so under the systemd unit scans were off; now the launcher is what it needs.
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const made: { binary: string; args: string[] }[] = [];
vi.mock('../../src/scan/scanner.js', () => ({
  Scanner: class {
    constructor(binary: string, args: string[] = []) {
      made.push({ binary, args });
    }
  },
}));

const { structPageScan } = await import('../../src/daemon/scan.js');
const { DaxState } = await import('../../src/state/state.js');
const { PACKAGE_ROOT } = await import('../../src/package-root.js');

function opts(launcher: string | null) {
  const warnings: unknown[][] = [];
  const log = { warn: (...a: unknown[]) => warnings.push(a), info() {} } as never;
  return {
    o: {
      config: { intervalSeconds: 60, pagesPerSecond: 1000 },
      state: new DaxState({ model: 'new' }),
      model: 'new' as const,
      ingest() {},
      scanDone() {},
      log,
      launcher,
    },
    warnings,
  };
}

const bin = path.join(PACKAGE_ROOT, 'bpf', 'build', 'daxmon-scan');

describe.skipIf(!(await import('node:fs')).existsSync(bin))('struct-page scans without root', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    made.length = 0;
  });

  it('not root and no launcher: no scans, and the warning says what to set', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(998);
    const { o, warnings } = opts(null);
    expect(structPageScan(o)).toBeUndefined();
    expect(JSON.stringify(warnings)).toMatch(/DAXMON_E_CAPS_LAUNCHER.*DAXMON_CAPS_LAUNCHER/);
    expect(made).toEqual([]);
  });

  it('not root with the launcher: the scanner is daxmon-caps DAXMON-SCAN', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(998);
    const { o, warnings } = opts('/opt/daxmon/bpf/build/daxmon-caps');
    expect(structPageScan(o)).toBeDefined();
    expect(warnings).toEqual([]);
    expect(made).toEqual([{ binary: '/opt/daxmon/bpf/build/daxmon-caps', args: [bin] }]);
  });

  it('root without the launcher: daxmon-scan itself, as before', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(0);
    expect(structPageScan(opts(null).o)).toBeDefined();
    expect(made).toEqual([{ binary: bin, args: [] }]);
  });
});
