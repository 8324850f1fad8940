import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_DIR } from './matrix.js';

// Ctrl-C on `daxmon lab`, for real: the CLI as a person runs it (node dist/cli.js lab, which loads
// the built lab package), one SIGINT once daxmon is ready. daxmon in the guest must get SIGTERM and
// shut down cleanly (its "shutting down" and "stopped" lines, the journal closed and synced), the
// job must write job.rc, the guest must power itself off and the lab exit 0. DAXMON_VM_LAB=0 skips.
const enabled = process.env.DAXMON_VM_LAB !== '0' && existsSync(join(REPO_DIR, 'dist', 'cli.js'));

describe.skipIf(!enabled)('daxmon lab and Ctrl-C', () => {
  it(
    'the first SIGINT stops daxmon in the guest cleanly and the guest powers off by itself',
    async () => {
      if (!existsSync(join(REPO_DIR, 'lab', 'dist', 'index.js')))
        execFileSync('npm', ['run', 'build:lab'], { cwd: REPO_DIR, stdio: 'ignore' });
      const child = spawn(process.execPath, [join(REPO_DIR, 'dist', 'cli.js'), 'lab', '--no-prometheus'], {
        cwd: REPO_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      let sentAt = 0;
      const t0 = Date.now();
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        err += d;
        process.stderr.write(d);
      });
      child.stdout.on('data', (d: string) => {
        out += d;
        process.stderr.write(d);
        if (!sentAt && out.includes('daxmon lab: ready')) {
          // Let a few seconds of the workload pass under daxmon's eye, then press Ctrl-C once.
          sentAt = Date.now() + 5000;
          setTimeout(() => child.kill('SIGINT'), 5000);
        }
      });
      const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const why = `stdout:\n${out}\nstderr:\n${err}`;
      expect(sentAt, `never ready; ${why}`).toBeGreaterThan(0);
      process.stderr.write(
        `daxmon lab: ready after ${((sentAt - 5000 - t0) / 1000).toFixed(0)} s, stopped ${((Date.now() - sentAt) / 1000).toFixed(0)} s after SIGINT\n`,
      );
      expect(out, why).toContain('SIGINT: stopping daxmon (SIGTERM) and powering the guest off');
      expect(out, why).toContain('daxmon lab: the guest sent daxmon SIGTERM');
      // daxmon's own lines: SIGTERM seen, and "stopped", logged after the journal was closed.
      expect(out, why).toMatch(/\[daxmon\] \{.*"why":"SIGTERM".*"msg":"shutting down"/);
      expect(out, why).toMatch(/\[daxmon\] \{.*"msg":"stopped"/);
      expect(out, why).toMatch(/daxmon lab: journal closed and synced: \d+ file\(s\)/);
      expect(out, why).toContain('daxmon lab: daxmon exited with status 0');
      expect(out, why).toContain('stopped cleanly');
      expect(out, why).not.toContain('killing qemu');
      expect(status, why).toBe(0);
      const run = /console: (\S+)\/console-\*\.log/.exec(out)?.[1];
      expect(run, why).toBeDefined();
      expect(readFileSync(join(run!, 'results', 'job.rc'), 'utf8').trim()).toBe('0');
      expect(existsSync(join(run!, 'results', 'journal'))).toBe(true);
      // The guest powered off (qemu exited 0 by itself, so the lab says "powered off" and exits 0)
      // and its console shows the kernel's power-down.
      const consoleLog = readFileSync(join(run!, 'console-1.log'), 'utf8');
      expect(consoleLog).toMatch(/DAXMON_DONE rc=0/);
      expect(consoleLog).toMatch(/reboot: Power down/);
      let left = '';
      try {
        left = execFileSync('pgrep', ['-af', `qemu-system-x86_64 .*${run!}`], { encoding: 'utf8' });
      } catch {
        // pgrep exits 1 when nothing matches
      }
      expect(left).toBe('');
    },
    20 * 60_000,
  );
});
