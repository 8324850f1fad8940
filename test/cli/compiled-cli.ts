/**
 * The CLI as users run it: compiled JavaScript under plain node (like dist/ after `npm run build`).
 * Tests that start many daxmon processes compile src/ once per file into a temporary directory
 * with esbuild (tsx's own transpiler): a `node --import tsx` start costs several times more, which
 * on a small shared host turned a handful of CLI runs into half a minute.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CompiledCli {
  /** Absolute path of the compiled src/cli.js. */
  cli: string;
  root: string;
  cleanup(): void;
}

export async function compileCli(): Promise<CompiledCli> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-cli-build-'));
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });
  try {
    // One output file per source file, same layout: relative imports and import.meta.url work as
    // they do in dist/.
    await build({
      entryPoints: [path.join(REPO, 'src', '**', '*.ts')],
      outbase: REPO,
      outdir: root,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'error',
    });
    // package.json for "type": "module" and the version; node_modules for the dependencies; bpf/
    // for the daemon's backends and view/ for the live view (found relative to the package root).
    fs.copyFileSync(path.join(REPO, 'package.json'), path.join(root, 'package.json'));
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'));
    fs.symlinkSync(path.join(REPO, 'bpf'), path.join(root, 'bpf'));
    // view/ for the live view's static files, served from the package root (src/server/view/assets.ts).
    fs.symlinkSync(path.join(REPO, 'view'), path.join(root, 'view'));
  } catch (err) {
    cleanup();
    throw err;
  }
  return { cli: path.join(root, 'src', 'cli.js'), root, cleanup };
}
