/** Paths of the kernel fixture trees (test/fixtures/kernel, described in its README). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'fixtures',
  'kernel',
);

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}
