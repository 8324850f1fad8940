/**
 * The live view's static files (view/ in the package: index.html, view.css, view.js), read once
 * when the server is built and served from memory: no CDN, no bundler at run time, nothing
 * fetched from the network. They go through the same redaction hook as every response.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { PACKAGE_ROOT } from '../../package-root.js';

export const VIEW_DIR = path.join(PACKAGE_ROOT, 'view');

const FILES: readonly [url: string, file: string, type: string][] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/view/view.css', 'view.css', 'text/css; charset=utf-8'],
  ['/view/view.js', 'view.js', 'text/javascript; charset=utf-8'],
];

/**
 * What `/` says when the view's files are not where the package puts them (an install that copied
 * dist/ without view/): the daemon still serves its API and metrics; a monitor must not stop over a
 * missing web page.
 */
function missingPage(dir: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>daxmon</title></head><body>
<h1>daxmon</h1><p>The live view's files are missing from ${dir.replace(/[<>&]/g, '')}: install the package's
<code>view/</code> folder beside <code>dist/</code>. The API and metrics work:</p><ul>
${['/metrics', '/healthz', '/readyz', '/api/state', '/api/pgmaps', '/api/violations', '/api/checks']
  .map((u) => `<li><a href="${u}">${u}</a></li>`)
  .join('')}</ul></body></html>`;
}

export function registerViewAssets(app: FastifyInstance, dir = VIEW_DIR): void {
  for (const [url, file, type] of FILES) {
    let body: string;
    try {
      body = fs.readFileSync(path.join(dir, file), 'utf8');
    } catch (err) {
      app.log.warn(
        { dir, file, err: (err as Error).message },
        'live view file missing; / shows a short page instead',
      );
      if (url !== '/') continue;
      body = missingPage(dir);
    }
    app.get(url, async (_req, reply) =>
      reply
        .type(type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .send(body),
    );
  }
}
