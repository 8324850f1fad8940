import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { VIEW_DIR, registerViewAssets } from '../../src/server/view/assets.js';

describe('the live view files', () => {
  it('are served from the package', async () => {
    const app = Fastify();
    registerViewAssets(app, VIEW_DIR);
    expect((await app.inject('/')).body).toContain('<!doctype html>');
    expect((await app.inject('/view/view.js')).statusCode).toBe(200);
    await app.close();
  });

  it('missing (dist/ installed without view/) do not stop the daemon: / says so and lists the API', async () => {
    const app = Fastify();
    registerViewAssets(app, '/nonexistent-daxmon/view');
    const root = await app.inject('/');
    expect(root.statusCode).toBe(200);
    expect(root.body).toContain("The live view's files are missing from /nonexistent-daxmon/view");
    expect(root.body).toContain('href="/api/state"');
    expect((await app.inject('/view/view.js')).statusCode).toBe(404);
    await app.close();
  });
});
