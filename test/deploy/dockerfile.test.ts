// No Docker engine here: the Dockerfile's structure is what can be checked (CI runs its build
// stage's script, scripts/image-build.sh, on a clean checkout).
import { describe, expect, it } from 'vitest';
import { readRepo } from './unit-file.js';

interface Stage {
  from: string;
  name: string | null;
  lines: string[];
}

/** Instructions (continuations joined, comments dropped), split into stages at FROM. */
function stages(text: string): Stage[] {
  const joined = text
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const out: Stage[] = [];
  for (const line of joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1]!, name: from[2] ?? null, lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

const text = readRepo('Dockerfile');
const all = stages(text);
const final = all.at(-1)!;
const instr = (s: Stage, op: string) => s.lines.filter((l) => l.toUpperCase().startsWith(`${op} `));

describe('Dockerfile', () => {
  it('builds in a stage of its own that runs the build script CI runs', () => {
    expect(all.length).toBe(2);
    expect(all[0]!.name).toBe('build');
    expect(instr(all[0]!, 'RUN').join('\n')).toMatch(/bash scripts\/image-build\.sh/);
  });

  it('final stage: no compiler, header or build tool, and only run-time files from the build', () => {
    const installs = instr(final, 'RUN')
      .join(' ')
      .match(/apt-get install ([^&]*)/g)
      ?.join(' ')
      .split(/\s+/)
      .filter((w) => w && !w.startsWith('-') && w !== 'apt-get' && w !== 'install');
    expect(installs).toEqual(expect.arrayContaining(['libbpf1', 'libelf1', 'libcap2-bin']));
    for (const p of installs ?? [])
      expect(p, p).not.toMatch(/^(clang|gcc|g\+\+|cpp|llvm|make|build-essential|bpftool)(-\d+)?$|-dev$/);
    expect(instr(final, 'RUN').join(' ')).toMatch(/--no-install-recommends/);
    const copies = instr(final, 'COPY');
    for (const c of copies) expect(c, c).toMatch(/^COPY --from=build /);
    const sources = copies.map((c) => c.split(/\s+/)[2]!);
    for (const s of sources) expect(s, s).not.toMatch(/\/(test|lab|src|bench)(\/|$)/);
    expect(sources).toEqual(
      expect.arrayContaining(['/opt/daxmon/dist', '/opt/daxmon/bpf/build', '/opt/daxmon/node_modules']),
    );
    // the production dependencies only
    expect(instr(all[0]!, 'RUN').join(' ')).toMatch(/npm prune --omit=dev/);
  });

  it('runs as a non-root user with the launcher installed and configured, never --privileged', () => {
    const user = instr(final, 'USER').at(-1)?.split(/\s+/)[1];
    expect(user).toBe('daxmon');
    expect(instr(final, 'RUN').join(' ')).toMatch(/bash scripts\/install-caps\.sh/);
    expect(instr(final, 'ENV').join(' ')).toMatch(
      /DAXMON_CAPS_LAUNCHER=\/opt\/daxmon\/bpf\/build\/daxmon-caps/,
    );
    expect(text).not.toMatch(/--privileged\b/);
    expect(text).toMatch(
      /--cap-drop ALL --cap-add BPF --cap-add PERFMON --cap-add SYSLOG --cap-add SYS_ADMIN --cap-add DAC_READ_SEARCH/,
    );
  });

  it('listens on loopback unless told otherwise', () => {
    const cmd = JSON.parse(instr(final, 'CMD').at(-1)!.slice(4)) as string[];
    expect(cmd[cmd.indexOf('--listen') + 1]).toMatch(/^127\.0\.0\.1:/);
    expect(cmd).toEqual(expect.arrayContaining(['--backend', 'libbpf']));
  });

  it('leaves the lab and the tests out of the build context', () => {
    const ignored = readRepo('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['lab', 'test', 'bench', 'node_modules', 'bpf/build']));
  });
});
