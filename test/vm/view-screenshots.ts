/**
 * `npm run lab:screenshots [-- healthy|stuck ...]`: boots the lab (7.3, memmap pmem, ext4 -o dax) with a
 * workload, waits until daxmon's live view has something to show, and saves a headless-Chromium
 * screenshot of the page at `/` into docs/images/ (the README shows them). Real pmem pages in a real
 * kernel, seen by daxmon: `healthy` maps and holds a 32 MiB file beside the lab's churn loop;
 * `stuck` pins 16 pages of a mapped file into a pipe with vmsplice and truncates the file from a
 * child, which waits in the kernel for the pins until the workload drains the pipe (after 10 minutes).
 * Both workloads start as daxmon does; `stuck` waits for its /readyz first, since a wait that began
 * before the probes attached is invisible to daxmon.
 */
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { runLab } from '../../lab/src/index.js';
import { REPO_DIR } from './matrix.js';

const HEALTHY = `import mmap, os, time
d = os.environ.get("DAX_MNT", "/mnt/dax")
held = os.path.join(d, "held")
fd = os.open(held, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 32 << 20)
keep = mmap.mmap(fd, 32 << 20)
for off in range(0, 32 << 20, 4096):
    keep[off] = 1
path = os.path.join(d, "churn")
while True:
    f = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(f, 4 << 20)
    m = mmap.mmap(f, 4 << 20)
    for off in range(0, 4 << 20, 4096):
        m[off] = 1
    m.close()
    os.ftruncate(f, 0)
    os.close(f)
    time.sleep(1)
`;

const STUCK = `import ctypes, mmap, os, time, urllib.request
# Wait until daxmon's probes are attached: a wait that began before them is invisible to it.
while True:
    try:
        if urllib.request.urlopen("http://127.0.0.1:9464/readyz", timeout=5).status == 200:
            break
    except Exception:
        pass
    time.sleep(2)
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
d = os.environ.get("DAX_MNT", "/mnt/dax")
path = os.path.join(d, "pinned")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 256 * 4096)
m = mmap.mmap(fd, 256 * 4096)
for off in range(0, 256 * 4096, 4096):
    m[off] = 1
buf = (ctypes.c_char * (256 * 4096)).from_buffer(m)
r, w = os.pipe()
fcntl_setpipe = 1031  # F_SETPIPE_SZ
import fcntl
fcntl.fcntl(w, fcntl_setpipe, 1 << 20)
iov = iovec(ctypes.addressof(buf), 16 * 4096)
n = libc.vmsplice(w, ctypes.byref(iov), 1, 0)
if n != 16 * 4096:
    raise SystemExit("vmsplice: %d errno %d" % (n, ctypes.get_errno()))
child = os.fork()
if child == 0:
    os.truncate(path, 0)
    os._exit(0)
time.sleep(600)
while n > 0:
    n -= len(os.read(r, 1 << 16))
os.waitpid(child, 0)
time.sleep(3600)
`;

interface Shot {
  name: string;
  workload: string;
  /** /api/state says the page has what this screenshot is for. */
  ready: (state: { waits?: unknown[]; folios?: { byState?: Record<string, number> } }) => boolean;
}

const SHOTS: Record<string, Shot> = {
  healthy: {
    name: 'view-healthy.png',
    workload: HEALTHY,
    ready: (s) => (s.folios?.byState?.mapped ?? 0) >= 16,
  },
  stuck: {
    name: 'view-stuck-truncate.png',
    workload: STUCK,
    ready: (s) => (s.waits?.length ?? 0) > 0,
  },
};

async function getJson(url: string): Promise<unknown> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return r.ok ? await r.json() : undefined;
  } catch {
    return undefined;
  }
}

async function shoot(shot: Shot): Promise<void> {
  const stop = new AbortController();
  let done: Promise<void> | undefined;
  const out = join(REPO_DIR, 'docs', 'images', shot.name);
  const take = async (base: string): Promise<void> => {
    const t0 = Date.now();
    for (;;) {
      if (stop.signal.aborted) return;
      const ready = (await getJson(`${base}readyz`)) !== undefined;
      const state = (await getJson(`${base}api/state`)) as Parameters<Shot['ready']>[0] | undefined;
      if (ready && state && shot.ready(state)) break;
      if (Date.now() - t0 > 20 * 60_000) throw new Error(`${shot.name}: the page never had what it needs`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    // Let the page's polls and the waits' ages run a little, so the screenshot shows them live.
    const browser = await chromium.launch({
      executablePath: process.env.DAXMON_CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(base, { waitUntil: 'load' });
      await page.waitForTimeout(15_000);
      await page.screenshot({ path: out, fullPage: true });
      process.stderr.write(`screenshot: ${out}\n`);
    } finally {
      await browser.close();
    }
    stop.abort();
  };
  const r = await runLab({
    repoDir: REPO_DIR,
    workload: shot.workload,
    prometheus: false,
    durationMs: 30 * 60_000,
    handleSignals: false,
    signal: stop.signal,
    print: (l) => process.stderr.write(`${l}\n`),
    onStarted: (st) => {
      done = take(st.urls.base).catch((err: unknown) => {
        process.stderr.write(`${String(err)}\n`);
        stop.abort();
      });
    },
  });
  await done;
  process.stderr.write(`lab ended: ${r.guest.status}\n`);
}

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SHOTS);
for (const w of wanted) {
  const shot = SHOTS[w];
  if (!shot) throw new Error(`unknown screenshot "${w}": ${Object.keys(SHOTS).join(', ')}`);
  await shoot(shot);
}
