import type { ResultPromise } from 'execa';
import { execa } from 'execa';

export interface QemuConfig {
  kernel: string;
  initrd: string;
  cmdline: string;
  machine: string;
  memoryArg: string;
  cpus: number;
  /** 9p shares: tag → host path. */
  shares: { tag: string; hostPath: string; readonly: boolean }[];
  /** guest TCP port → host port on 127.0.0.1; empty means no network device. */
  forwards: { guestPort: number; hostPort: number }[];
  extraArgs: string[];
}

/**
 * qemu argv. `-cpu max` under TCG gives the guest the features Debian's kernels expect; `-no-reboot`
 * turns the guest's `panic=-1` reboot into a qemu exit; the console is the serial port on stdout.
 */
export function buildQemuArgs(c: QemuConfig): string[] {
  const args = [
    '-machine',
    c.machine,
    '-cpu',
    'max',
    '-m',
    c.memoryArg,
    '-smp',
    String(c.cpus),
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    c.kernel,
    '-initrd',
    c.initrd,
    '-append',
    c.cmdline,
  ];
  for (const s of c.shares) {
    const opts = [
      `local`,
      `path=${s.hostPath}`,
      `mount_tag=${s.tag}`,
      'security_model=none',
      'multidevs=remap',
    ];
    if (s.readonly) opts.push('readonly=on');
    args.push('-virtfs', opts.join(','));
  }
  if (c.forwards.length > 0) {
    const fwd = c.forwards.map((f) => `hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`).join(',');
    args.push('-nic', `user,model=virtio-net-pci,${fwd}`);
  } else {
    args.push('-nic', 'none');
  }
  args.push(...c.extraArgs);
  return args;
}

/** Every qemu this process started and has not yet seen exit, by process group id. */
const live = new Set<number>();
let handlersInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function killAllQemu(): void {
  for (const pid of live) killGroup(pid);
  live.clear();
}

/** Holders that stop their guests themselves on a signal (the lab: daxmon first, then power-off). */
let signalHolders = 0;

/**
 * While held, SIGINT, SIGTERM and SIGHUP leave this process's qemus alone: the holder stops its
 * guest cleanly and kills qemu only if that fails. Without it the first Ctrl-C would SIGKILL qemu
 * at once and daxmon in the guest would never shut down. Process exit still kills every qemu.
 * Returns the release function (idempotent).
 */
export function holdQemuSignals(): () => void {
  signalHolders++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    signalHolders--;
  };
}

export function qemuSignalsHeld(): boolean {
  return signalHolders > 0;
}

function onSignal(signal: NodeJS.Signals): void {
  if (signalHolders > 0) return;
  killAllQemu();
  removeHandlers();
  // Re-raise so the process ends the way it would have without us, unless the program handles the
  // signal itself.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function removeHandlers(): void {
  if (!handlersInstalled) return;
  process.off('exit', killAllQemu);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  handlersInstalled = false;
}

function installHandlers(): void {
  if (handlersInstalled) return;
  process.on('exit', killAllQemu);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  handlersInstalled = true;
}

export interface QemuProcess {
  pid: number;
  child: ResultPromise<{ reject: false; stdin: 'ignore'; detached: true; buffer: false }>;
  /** Resolves with the exit code (or signal name) once qemu has exited. */
  exited: Promise<{ code: number | undefined; signal: string | undefined; stderr: string }>;
  kill(): void;
}

/**
 * Starts qemu in its own process group, so one `kill(-pgid)` takes it and anything it forked, under
 * `setpriv --pdeathsig KILL` so that even a SIGKILL of this Node process (a vitest worker killed on
 * timeout) takes qemu with it. Exit and signal handlers cover the normal ways out.
 */
export function launchQemu(args: string[], onStdout: (chunk: string) => void): QemuProcess {
  const child = execa('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args], {
    reject: false,
    stdin: 'ignore',
    detached: true,
    buffer: false,
    cleanup: false,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('qemu did not start');
  live.add(pid);
  installHandlers();
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => onStdout(d));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  const exited = child.then((r) => {
    live.delete(pid);
    if (live.size === 0) removeHandlers();
    return { code: r.exitCode, signal: r.signal, stderr };
  });
  return {
    pid,
    child,
    exited,
    kill: () => killGroup(pid),
  };
}

export function liveQemuCount(): number {
  return live.size;
}
