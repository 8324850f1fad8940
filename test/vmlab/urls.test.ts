import { describe, expect, it } from 'vitest';
import { urlLines } from '../../lab/src/urls.js';

describe('daxmon lab: the URLs it prints when daxmon is up', () => {
  const urls = { base: 'http://127.0.0.1:9464/', metrics: 'http://127.0.0.1:9464/metrics' };

  it('prints the live view first', () => {
    const lines = urlLines(urls, undefined, '/tmp/console-*.log');
    expect(lines[0]).toMatch(/^ {2}view: +http:\/\/127\.0\.0\.1:9464\/ /);
    expect(lines).toContain('  metrics: http://127.0.0.1:9464/metrics');
    expect(lines.some((l) => l.includes('prometheus'))).toBe(false);
  });

  it('adds Prometheus after the view when it runs', () => {
    const lines = urlLines(urls, 'http://127.0.0.1:9090', 'c');
    expect(lines[0]).toContain('view:');
    expect(lines).toContain('  alerts:     http://127.0.0.1:9090/alerts');
  });
});
