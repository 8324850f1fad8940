/**
 * A stand-in for daxmon's /metrics, shaped by the metrics contract: a healthy host with two pgmaps,
 * every check active, every probe attached, no violations and no lost events. It is not the daemon;
 * it lets a real Prometheus evaluate every panel and alert before the VM end-to-end test exists.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  EVENT_TYPES,
  FOLIO_STATES,
  SCAN_DRIFT_FIELDS,
  VIOLATION_KINDS,
  VIOLATION_SEVERITIES,
} from '../../dashboards/src/metrics-contract.js';

const PGMAPS = [
  { pgmap: 'pm0', type: 'fs_dax', device: 'pmem0' },
  { pgmap: 'pm1', type: 'generic', device: 'dax1.0' },
];
const PROBES = ['dax_insert_entry', 'free_zone_device_folio', 'memunmap_pages'];

function healthyRegistry(): Registry {
  const register = new Registry();
  const r = { registers: [register] };
  collectDefaultMetrics({ register });

  // Counters move on every scrape, as they would under a DAX workload.
  new Counter({
    ...r,
    name: 'daxmon_events_total',
    help: 'x',
    labelNames: ['type'],
    collect() {
      for (const type of EVENT_TYPES) this.inc({ type }, 5);
    },
  });
  new Counter({ ...r, name: 'daxmon_events_lost_total', help: 'x', labelNames: ['backend'] }).inc(
    { backend: 'libbpf' },
    0,
  );
  const violations = new Counter({
    ...r,
    name: 'daxmon_violations_total',
    help: 'x',
    labelNames: ['kind', 'severity'],
  });
  const checks = new Gauge({ ...r, name: 'daxmon_check_active', help: 'x', labelNames: ['kind'] });
  for (const kind of VIOLATION_KINDS) {
    checks.set({ kind }, 1);
    for (const severity of VIOLATION_SEVERITIES) violations.inc({ kind, severity }, 0);
  }
  new Gauge({ ...r, name: 'daxmon_pgmaps', help: 'x' }).set(PGMAPS.length);
  const info = new Gauge({
    ...r,
    name: 'daxmon_pgmap_info',
    help: 'x',
    labelNames: ['pgmap', 'type', 'device'],
  });
  const folios = new Gauge({ ...r, name: 'daxmon_pgmap_folios', help: 'x', labelNames: ['pgmap', 'state'] });
  for (const p of PGMAPS) {
    info.set(p, 1);
    FOLIO_STATES.forEach((state, i) =>
      folios.set({ pgmap: p.pgmap, state }, state === 'uncertain' ? 0 : 100 * i),
    );
  }
  new Gauge({ ...r, name: 'daxmon_tracked_folios', help: 'x' }).set(3000);
  new Gauge({ ...r, name: 'daxmon_state_bytes', help: 'x' }).set(3000 * 64);
  new Counter({ ...r, name: 'daxmon_folio_evictions_total', help: 'x' }).inc(0);
  const suppressed = new Counter({
    ...r,
    name: 'daxmon_violations_suppressed_total',
    help: 'x',
    labelNames: ['kind'],
  });
  for (const kind of VIOLATION_KINDS) suppressed.inc({ kind }, 0);
  const probes = new Gauge({
    ...r,
    name: 'daxmon_probe_attached',
    help: 'x',
    labelNames: ['probe', 'backend'],
  });
  for (const probe of PROBES) probes.set({ probe, backend: 'libbpf' }, 1);
  new Gauge({ ...r, name: 'daxmon_backend_up', help: 'x', labelNames: ['backend'] }).set(
    { backend: 'libbpf' },
    1,
  );
  new Counter({ ...r, name: 'daxmon_backend_restarts_total', help: 'x', labelNames: ['backend'] }).inc(
    { backend: 'libbpf' },
    0,
  );
  new Gauge({ ...r, name: 'daxmon_kernel_info', help: 'x', labelNames: ['release', 'refcount_model'] }).set(
    { release: '6.18.0-daxmon', refcount_model: 'new' },
    1,
  );
  const waits = new Histogram({ ...r, name: 'daxmon_busy_page_wait_seconds', help: 'x' });
  waits.observe(0.002);
  waits.observe(0.03);
  new Gauge({ ...r, name: 'daxmon_busy_waits_open', help: 'x' }).set(0);
  new Gauge({ ...r, name: 'daxmon_busy_wait_oldest_seconds', help: 'x' }).set(0);
  new Counter({ ...r, name: 'daxmon_confirmations_total', help: 'x', labelNames: ['check', 'outcome'] }).inc(
    { check: 'busy_wait_stuck', outcome: 'confirmed' },
    0,
  );
  new Histogram({ ...r, name: 'daxmon_pgmap_teardown_seconds', help: 'x' });
  new Counter({ ...r, name: 'daxmon_gup_longterm_refused_total', help: 'x' }).inc(2);
  new Histogram({
    ...r,
    name: 'daxmon_scan_duration_seconds',
    help: 'x',
    collect() {
      this.observe(0.05);
    },
  });
  new Counter({
    ...r,
    name: 'daxmon_scan_pages_total',
    help: 'x',
    collect() {
      this.inc(4096);
    },
  });
  const drift = new Counter({ ...r, name: 'daxmon_scan_drift_total', help: 'x', labelNames: ['field'] });
  for (const field of SCAN_DRIFT_FIELDS) drift.inc({ field }, 0);
  new Gauge({
    ...r,
    name: 'daxmon_scan_last_success_timestamp_seconds',
    help: 'x',
    collect() {
      this.set(Date.now() / 1000);
    },
  });
  new Counter({ ...r, name: 'daxmon_journal_write_errors_total', help: 'x' });
  return register;
}

export interface Exporter {
  readonly address: string;
  close(): Promise<void>;
}

export async function startSyntheticExporter(): Promise<Exporter> {
  const register = healthyRegistry();
  const server = http.createServer((_req, res) => {
    register.metrics().then(
      (body) => res.writeHead(200, { 'content-type': register.contentType }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
