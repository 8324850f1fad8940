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

export function registerViewAssets(app: FastifyInstance, dir = VIEW_DIR): void {
  for (const [url, file, type] of FILES) {
    const body = fs.readFileSync(path.join(dir, file), 'utf8');
    app.get(url, async (_req, reply) =>
      reply
        .type(type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .send(body),
    );
  }
}
