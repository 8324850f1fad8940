// Guest side of test/vm/scan.vm.test.ts: talks to the daxmon running in the guest and drives
// scanwl step by step, writing what daxmon's scan reported after each step to
// $DAXMON_RESULTS/scan-steps.json. Plain ESM: the guest runs it with the host's node.
//   node scan-steps.mjs URL SCANWL FILE PAGES PIN SCANBIN
/* global fetch, setTimeout */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [url, scanwl, file, pagesArg, pinArg, scanBin, cli] = process.argv.slice(2);
const out = { steps: {}, errors: [] };
const save = () =>
  writeFileSync(`${process.env.DAXMON_RESULTS}/scan-steps.json`, JSON.stringify(out, null, 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A GET that failed at the connection level (undici's "fetch failed": a keep-alive socket the
// server closed as it was reused, which a loaded host makes likely) is retried a few times; HTTP
// errors are not. The retries are in the output.
out.fetchRetries = [];
async function fetchRetrying(target) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(target);
    } catch (err) {
      if (attempt >= 5) throw err;
      out.fetchRetries.push(`${target}: ${err?.cause?.code ?? err?.cause?.message ?? err}`);
      await sleep(1000 * attempt);
    }
  }
}

async function get(path) {
  const res = await fetchRetrying(url + path);
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return path === '/metrics' ? text : JSON.parse(text);
}

async function metric(name) {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(await get('/metrics'));
  return m ? Number(m[1]) : null;
}

/** Resolves after `n` scans that started after this call have completed. */
async function scansAfter(n) {
  const start = (await metric('daxmon_scan_duration_seconds_count')) ?? 0;
  const end = Date.now() + 300_000;
  // +1: the scan running now may have started before the step
  while (((await metric('daxmon_scan_duration_seconds_count')) ?? 0) < start + n + 1) {
    if (Date.now() > end) throw new Error('no scan completed within 300 s');
    await sleep(250);
  }
}

async function pagesOf(pgmap, pfns) {
  const res = [];
  for (let i = 0; i < pfns.length;) {
    let j = i + 1;
    while (j < pfns.length && pfns[j] === pfns[j - 1] + 1 && j - i < 4096) j++;
    const r = await get(`/api/pgmaps/${pgmap}/pages?from=${pfns[i]}&count=${j - i}`);
    res.push(...r.pages);
    i = j;
  }
  return res;
}

async function walk(pgmap) {
  const first = await get(`/api/pgmaps/${pgmap}/pages?count=1`);
  const hist = {};
  let pages = 0;
  for (let pfn = first.from; pfn < first.from + first.nrPages; pfn += 4096) {
    const r = await get(`/api/pgmaps/${pgmap}/pages?from=${pfn}&count=4096`);
    for (const p of r.pages) {
      const k = `${p.state}/${p.refcount}/${p.mapcount}/${p.entry}`;
      hist[k] = (hist[k] ?? 0) + 1;
      pages++;
    }
  }
  return {
    pages,
    hist,
    nrPages: first.nrPages,
    pgmapWordsDistinct: first.pgmapWordsDistinct,
    type: first.type,
  };
}

async function metricsSnapshot() {
  return (await get('/metrics')).split('\n').filter((l) => /^daxmon_(scan_|pgmap_folios)/.test(l));
}

/** `daxmon pages` against the running daemon: its stdout and exit code. */
function runCli(args) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The scanner's raw speed: one unbudgeted pass over the pgmap, straight from daxmon-scan. */
function rawScan(startPfn, nr) {
  return new Promise((resolve, reject) => {
    const c = spawn(scanBin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = Buffer.alloc(0);
    c.stdout.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length < 8) return;
        const len = buf.readUInt32LE(0);
        if (buf.length < 8 + len) return;
        const kind = buf.readUInt16LE(4);
        const payload = buf.subarray(8, 8 + len);
        buf = buf.subarray(8 + len);
        if (kind === 2) {
          const v = JSON.parse(payload.toString());
          if (v.kind === 'done') {
            c.stdin.end();
            resolve(v);
          } else if (v.kind === 'error') reject(new Error(v.message));
        }
      }
    });
    c.stdin.write(`scan ${startPfn} ${nr} 0\n`);
  });
}

try {
  // daxmon's start and first 1 GiB scan under emulation on a busy host: generous.
  const end = Date.now() + 600_000;
  for (;;) {
    try {
      if (((await metric('daxmon_scan_last_success_timestamp_seconds')) ?? 0) > 0) break;
    } catch {
      /* not serving yet */
    }
    if (Date.now() > end) throw new Error('daxmon never completed a scan within 600 s');
    await sleep(500);
  }
  const pgmaps = await get('/api/pgmaps');
  out.pgmaps = pgmaps;
  const pm = pgmaps.find((p) => p.type === 'fs_dax');
  if (!pm) throw new Error('no fs_dax pgmap discovered');
  out.steps.boot = { walk: await walk(pm.id), metrics: await metricsSnapshot() };
  save();

  const wl = spawn(scanwl, [file, pagesArg, pinArg], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: wl.stdout });
  const it = lines[Symbol.asyncIterator]();
  const next = async () => {
    const r = await it.next();
    if (r.done) throw new Error('scanwl ended early');
    return r.value;
  };
  const mappedLine = await next();
  const pfns = mappedLine.split(' ').slice(1).map(Number);
  out.pfns = pfns;
  const pin = Number(pinArg);
  if ((await next()) !== 'READY') throw new Error('scanwl: expected READY');
  for (const [name, expect] of [
    ['mapped', null],
    ['pinned', 'PINNED'],
    ['drained', 'DRAINED'],
    ['unmapped', 'UNMAPPED'],
  ]) {
    if (expect) {
      wl.stdin.write('go\n');
      const got = await next();
      if (got !== expect) throw new Error(`scanwl: expected ${expect}, got ${got}`);
    }
    await scansAfter(1);
    const pages = await pagesOf(pm.id, pfns);
    out.steps[name] = {
      pinnedPages: pages.slice(0, pin),
      otherPages: pages.slice(pin),
      metrics: await metricsSnapshot(),
    };
    if (name === 'mapped')
      out.cliPages = await runCli(['pages', pm.id, '--from', String(pfns[0]), '--count', '4', '--url', url]);
    save();
  }
  wl.stdin.end();
  const r = pm.ranges[0];
  out.raw = await rawScan(r.pfn, r.nrPages);
  out.raw.pagesPerSecond = (out.raw.nr / out.raw.ns) * 1e9;
} catch (err) {
  out.errors.push(String(err?.stack ?? err));
}
save();
process.exit(out.errors.length ? 1 : 0);
