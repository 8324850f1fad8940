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
  if (file === undefined) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new DaxmonError(
      'DAXMON_E_API_TOKEN',
      `cannot use the API token file ${file}: ${(err as Error).message}`,
    );
  }
  try {
    // The token unlocks kernel addresses: refuse a file others may read, as ssh refuses such a
    // private key (the mode of the file opened, not of a path that could be swapped after a stat).
    const mode = fs.fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new DaxmonError(
        'DAXMON_E_API_TOKEN_MODE',
        `permissions ${mode.toString(8).padStart(4, '0')} of the API token file ${file} are too open (its group or others may read it): chmod 600 ${file}`,
      );
    }
    const t = fs.readFileSync(fd, 'utf8').trim();
    if (t.length < 16)
      throw new DaxmonError(
        'DAXMON_E_API_TOKEN',
        `cannot use the API token file ${file}: the token must be at least 16 characters`,
      );
    return t;
  } catch (err) {
    if (err instanceof DaxmonError) throw err;
    throw new DaxmonError(
      'DAXMON_E_API_TOKEN',
      `cannot use the API token file ${file}: ${(err as Error).message}`,
    );
  } finally {
    fs.closeSync(fd);
  }
}
