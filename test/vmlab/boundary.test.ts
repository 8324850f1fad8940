import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as lab from '../../lab/src/index.js';
import type { LabEntry } from '../../src/commands/lab.js';
import { LAB_PACKAGE, loadLab, parseLabArgs, runLabCli } from '../../src/commands/lab.js';
import { DaxmonError } from '../../src/errors.js';

// The lab (lab/, package @daxmon/lab) and the daemon a DAX host installs are separate: the daemon
// never imports the lab statically, its package carries no lab file, and `daxmon lab` finds the
// lab at run time or says it is not installed.
const ROOT = resolve(import.meta.dirname, '..', '..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Module specifiers of static imports/exports and of dynamic imports with a literal argument. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  return out;
}

function reachesLab(fromFile: string, spec: string): boolean {
  if (spec === LAB_PACKAGE || spec.startsWith(`${LAB_PACKAGE}/`)) return true;
  if (!spec.startsWith('.')) return false;
  const target = relative(ROOT, resolve(fromFile, '..', spec));
  return target.startsWith('lab/') || target.includes('vmlab');
}

describe('the lab/daemon boundary', () => {
  it('finds the import forms it checks for', () => {
    expect(
      specifiers(
        `import { a } from '../x.js';\nimport type { B } from "./y.js";\nawait import('z');\nexport * from './w.js';`,
      ),
    ).toEqual(['../x.js', './y.js', 'z', './w.js']);
    expect(reachesLab(join(ROOT, 'src', 'commands', 'lab.ts'), '../../lab/src/lab.js')).toBe(true);
    expect(reachesLab(join(ROOT, 'src', 'cli.ts'), '@daxmon/lab')).toBe(true);
    expect(reachesLab(join(ROOT, 'src', 'cli.ts'), './commands/lab.js')).toBe(false);
  });

  it('no file of the daemon (src/) imports the lab', () => {
    const offenders = tsFiles(join(ROOT, 'src')).flatMap((f) =>
      specifiers(readFileSync(f, 'utf8'))
        .filter((s) => reachesLab(f, s))
        .map((s) => `${relative(ROOT, f)} imports ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it('the daemon package (npm pack) carries no lab file', { timeout: 60_000 }, () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain('package.json');
    expect(files).toContain('deploy/daxmon.service');
    expect(files.filter((f) => f.startsWith('lab/') || /vmlab|vm-lab|qemu|initramfs/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    // After a build the daemon's dist/ is in the package (and holds no lab module).
    if (existsSync(join(ROOT, 'dist', 'cli.js'))) {
      expect(files).toContain('dist/cli.js');
      expect(files).toContain('dist/commands/lab.js');
    }
  });

  it('the lab exports what the daemon calls (typechecked against LabEntry)', async () => {
    const entry: LabEntry = lab;
    expect(await loadLab(() => Promise.resolve(entry))).toBe(entry);
  });

  it('a daxmon without the lab fails with DAXMON_E_LAB_NOT_INSTALLED and says what to do', async () => {
    // A real failed import, as on a DAX host where only the daemon's package is installed.
    const err = await loadLab((s) => import(`${s}-not-here`)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaxmonError);
    expect((err as DaxmonError).code).toBe('DAXMON_E_LAB_NOT_INSTALLED');
    expect((err as DaxmonError).message).toMatch(/npm run lab.*repository|repository.*npm run lab/);
    const stale = await loadLab(() => Promise.resolve({ runLab: () => 0 })).catch((e: unknown) => e);
    expect((stale as DaxmonError).code).toBe('DAXMON_E_LAB_NOT_INSTALLED');
  });

  it('a lab that fails to load for another reason is a bug, not "not installed"', async () => {
    const boom = new SyntaxError('Unexpected token');
    await expect(loadLab(() => Promise.reject(boom))).rejects.toBe(boom);
  });

  it('runLabCli parses before loading, and hands the lab the parsed request', async () => {
    await expect(
      runLabCli(['--fs', 'btrfs'], () => Promise.reject(new Error('not reached'))),
    ).rejects.toThrow(/--fs must be ext4 or xfs/);
    let got: unknown;
    const code = await runLabCli(['--kernel', '6.12', '--duration', '30', '--no-prometheus'], () =>
      Promise.resolve({
        runLabCommand: (req: unknown) => {
          got = req;
          return Promise.resolve(3);
        },
      }),
    );
    expect(code).toBe(3);
    expect(got).toEqual({ ...parseLabArgs(['--kernel', '6.12']), durationMs: 30_000, prometheus: false });
  });

  it('package.json builds the lab only for the lab', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      workspaces: string[];
      scripts: Record<string, string>;
    };
    expect(pkg.workspaces).toEqual(['lab']);
    expect(pkg.scripts.build).not.toMatch(/lab/);
    expect(pkg.scripts.lab).toMatch(/build:lab/);
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')).toContain('lab');
  });
});
