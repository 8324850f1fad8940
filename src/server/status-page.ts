/** A small HTML page at / listing the endpoints, for whoever opens daxmon's port in a browser. */
export function statusPage(): string {
  const links = [
    ['/metrics', 'Prometheus metrics'],
    ['/healthz', 'liveness'],
    ['/readyz', 'readiness: backends attached, or why not'],
    ['/api/state', 'kernel, backends, probes, pgmaps, folio counts, open waits'],
    ['/api/pgmaps', 'pgmaps'],
    ['/api/violations', 'violations (?kind=&severity=&pgmap=&since=&until=&before=&limit=)'],
    ['/api/checks', 'checks: active or why not, counts'],
  ];
  return `<!doctype html><html><head><meta charset="utf-8"><title>daxmon</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:50em}code{background:#eee;padding:0 .2em}</style></head>
<body><h1>daxmon</h1><p>Live monitor of ZONE_DEVICE / FS DAX folio refcounting.</p><ul>
${links.map(([href, what]) => `<li><a href="${href}"><code>${href}</code></a> — ${what}</li>`).join('\n')}
</ul></body></html>`;
}
