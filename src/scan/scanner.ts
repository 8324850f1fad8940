/**
 * The daxmon-scan process (bpf/libbpf/scan.c): started once, asked for one pfn range at a time.
 * I/O only; what the pages mean is decided by truth.ts and reconcile.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { DaxmonError, isCodeOf } from '../errors.js';
import { FrameReader, type PageBatch } from './frames.js';

export interface RangeScan {
  pages: number;
  faults: number;
  /** Time the scanner spent on the range, budget sleeps included (ns). */
  ns: number;
}

interface Pending {
  onBatch: (b: PageBatch) => void;
  resolve: (r: RangeScan) => void;
  reject: (e: Error) => void;
}

export class Scanner {
  private child: ChildProcess | null = null;
  private readonly reader = new FrameReader();
  private queue: Pending[] = [];
  private hello: Promise<Record<string, unknown>> | null = null;
  private stderr = '';

  constructor(
    private readonly binary: string,
    private readonly extraArgs: string[] = [],
  ) {}

  /** Starts the process; resolves with its hello frame. */
  start(): Promise<Record<string, unknown>> {
    if (this.hello) return this.hello;
    this.hello = new Promise((resolve, reject) => {
      const child = spawn(this.binary, this.extraArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
      this.child = child;
      let greeted = false;
      child.on('error', (err) =>
        reject(new DaxmonError('DAXMON_E_SCAN_START', `cannot start ${this.binary}: ${err.message}`)),
      );
      child.stderr!.on('data', (d: Buffer) => {
        this.stderr = (this.stderr + d.toString()).slice(-2000);
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        for (const fr of this.reader.push(chunk)) {
          if (fr.kind === 'pages') {
            this.queue[0]?.onBatch(fr.batch);
            continue;
          }
          const v = fr.value;
          if (v.kind === 'hello') {
            greeted = true;
            if (v.vmemmap_base !== true)
              reject(
                new DaxmonError(
                  'DAXMON_E_SCAN_NO_VMEMMAP',
                  'the scanner cannot find vmemmap_base (/proc/kallsyms lists it only with CONFIG_KALLSYMS_ALL, and its address only to a reader with CAP_SYSLOG: root, or daxmon-scan through daxmon-caps)',
                ),
              );
            else resolve(v);
          } else if (v.kind === 'done') {
            this.queue.shift()?.resolve({ pages: Number(v.nr), faults: Number(v.faults), ns: Number(v.ns) });
          } else if (v.kind === 'error') {
            // The code comes from another program: one this daxmon does not know is still a failed run.
            const err = isCodeOf('scan', v.code)
              ? new DaxmonError(v.code, String(v.message))
              : new DaxmonError(
                  'DAXMON_E_SCAN_RUN',
                  `${String(v.message)} (daxmon-scan code ${String(v.code)})`,
                );
            if (!greeted) reject(err);
            else this.queue.shift()?.reject(err);
          }
        }
      });
      child.on('exit', (code, signal) => {
        const err = new DaxmonError(
          'DAXMON_E_SCAN_EXITED',
          `daxmon-scan exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`,
        );
        if (!greeted) reject(err);
        for (const p of this.queue.splice(0)) p.reject(err);
        this.child = null;
        this.hello = null;
      });
    });
    return this.hello;
  }

  /** Reads `nr` struct pages from `startPfn`, at most `pagesPerSecond` (0: unbounded). */
  async scan(
    startPfn: number,
    nr: number,
    pagesPerSecond: number,
    onBatch: (b: PageBatch) => void,
  ): Promise<RangeScan> {
    await this.start();
    const child = this.child;
    if (!child) throw new DaxmonError('DAXMON_E_SCAN_EXITED', 'daxmon-scan is not running');
    return new Promise((resolve, reject) => {
      this.queue.push({ onBatch, resolve, reject });
      child.stdin!.write(`scan ${startPfn} ${nr} ${Math.max(0, Math.floor(pagesPerSecond))}\n`);
    });
  }

  stop(): void {
    this.child?.stdin?.end();
    this.child?.kill('SIGTERM');
    this.child = null;
  }
}
