/**
 * `npm run build:dashboards`: writes the generated dashboards and alert files into the work tree.
 * npm runs scripts from the package root, which is where the paths are relative to.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderAll } from './generate.js';

const root = process.cwd();
for (const [rel, content] of await renderAll(root)) {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  console.log(`wrote ${rel}`);
}
