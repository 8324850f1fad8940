/**
 * The daemon's HTTP side: the fastify app (src/server/app.ts) on `--listen`, and the API token
 * that unlocks raw kernel addresses in it.
 */
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DaxmonError } from '../errors.js';
import { buildServer, type ServerDeps } from '../server/app.js';

export interface Http {
  /** The port it listens on (the actual one for `--listen HOST:0`). */
  port: number;
  close(): Promise<void>;
}

export async function serveHttp(
  listen: { host: string; port: number },
  deps: ServerDeps,
  log: Logger,
): Promise<Http> {
  const server = httpApp(deps, log);
  try {
    await server.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    throw new DaxmonError(
      'DAXMON_E_LISTEN',
      `cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}; choose another with --listen HOST:PORT`,
    );
  }
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : listen.port;
  log.info({ url: `http://${listen.host}:${port}/metrics` }, 'serving metrics and API');
  return { port, close: () => server.close() };
}

/** The fastify app the daemon serves: its deps, and its log for every 5xx. */
export function httpApp(deps: ServerDeps, log: Logger): FastifyInstance {
  return buildServer({ ...deps, log });
}

export function readToken(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (t.length < 16) throw new Error('the token must be at least 16 characters');
    return t;
  } catch (err) {
    throw new DaxmonError(
      'DAXMON_E_API_TOKEN',
      `cannot use the API token file ${file}: ${(err as Error).message}`,
    );
  }
}
