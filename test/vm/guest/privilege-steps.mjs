// Guest side of test/vm/privilege.vm.test.ts: waits until the daxmon started as the systemd unit
// does (user daxmon, no capability) has its probes attached and one struct-page scan done, then
// reads the capability sets of every daxmon process (the Node process and all its descendants)
// from /proc/PID/status, and writes it all to $DAXMON_RESULTS/privilege.json.
// Plain ESM: the guest runs it with the host's node.
//   node privilege-steps.mjs URL NODE_PID
/* global fetch, setTimeout */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const [url, pidArg] = process.argv.slice(2);
const nodePid = Number(pidArg);
const out = { errors: [], waits: {}, processes: [] };
const save = () =>
  writeFileSync(`${process.env.DAXMON_RESULTS}/privilege.json`, JSON.stringify(out, null, 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function get(path) {
  const res = await fetch(url + path);
  const text = await res.text();
  return { status: res.status, text };
}

/** Polls `check` until it returns a value, at most `seconds`; bounded, never a fixed sleep. */
async function waitFor(what, seconds, check) {
  const t0 = Date.now();
  let last = null;
  while (Date.now() - t0 < seconds * 1000) {
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) {
        out.waits[what] = Date.now() - t0;
        return v;
      }
    } catch (err) {
      last = String(err?.cause?.code ?? err?.message ?? err);
    }
    try {
      process.kill(nodePid, 0);
    } catch {
      throw new Error(`daxmon (pid ${nodePid}) exited while waiting for ${what}`);
    }
    await sleep(250);
  }
  throw new Error(`${what}: not within ${seconds} s${last ? ` (last error: ${last})` : ''}`);
}

function metric(text, name) {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

function status(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const f = (k) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? null;
  return {
    pid,
    ppid: Number(f('PPid')),
    name: f('Name'),
    uid: f('Uid'),
    gid: f('Gid'),
    capInh: f('CapInh'),
    capPrm: f('CapPrm'),
    capEff: f('CapEff'),
    capBnd: f('CapBnd'),
    capAmb: f('CapAmb'),
    noNewPrivs: f('NoNewPrivs'),
    cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
  };
}

/** The Node process and every process below it, read as they are now. */
function daxmonProcesses() {
  const all = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      all.push(status(Number(d)));
    } catch {
      // exited meanwhile
    }
  }
  const inTree = new Set([nodePid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all)
      if (!inTree.has(p.pid) && inTree.has(p.ppid)) {
        inTree.add(p.pid);
        grew = true;
      }
  }
  return all.filter((p) => inTree.has(p.pid));
}

try {
  // 1. the probes attached: /readyz is 200 once an event backend's probes are up
  out.readyz = JSON.parse(
    await waitFor('readyz', 600, async () => {
      const r = await get('/readyz');
      return r.status === 200 ? r.text : null;
    }),
  );
  // 2. one struct-page scan done, with pages read
  await waitFor('scan', 600, async () => {
    const m = (await get('/metrics')).text;
    return (metric(m, 'daxmon_scan_duration_seconds_count') ?? 0) >= 1 ? m : null;
  });
  const m = (await get('/metrics')).text;
  out.scan = {
    scans: metric(m, 'daxmon_scan_duration_seconds_count'),
    pages: metric(m, 'daxmon_scan_pages_total'),
  };
  const state = JSON.parse((await get('/api/state')).text);
  out.backends = state.backends;
  out.probes = state.probes;
  out.pgmaps = (state.pgmaps ?? []).map((p) => ({
    id: p.id,
    type: p.type,
    source: p.source,
    ranges: p.ranges,
  }));
  // 3. the capabilities of every daxmon process, while the loader and the scanner both run
  await waitFor('helpers running', 60, () => {
    const ps = daxmonProcesses();
    return ps.some((p) => p.cmdline[0]?.endsWith('/daxmon-loader')) &&
      ps.some((p) => p.cmdline[0]?.endsWith('/daxmon-scan'))
      ? true
      : null;
  });
  out.processes = daxmonProcesses();
  // the loader's arguments, single-quoted for the shell, for the experiments that follow
  const loader = out.processes.find((p) => p.cmdline[0]?.endsWith('/daxmon-loader'));
  if (process.env.DAXMON_LOADER_ARGS && loader)
    writeFileSync(
      process.env.DAXMON_LOADER_ARGS,
      loader.cmdline
        .slice(1)
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' '),
    );
} catch (err) {
  out.errors.push(String(err?.stack ?? err));
}
save();
process.exit(out.errors.length ? 1 : 0);
