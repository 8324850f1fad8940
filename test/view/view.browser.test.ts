/// <reference lib="dom" />
/**
 * The live view in a real browser: Debian's Chromium, headless, driven by playwright-core, against
 * a daxmon fed a replayed recording (test/helpers/view-world.ts). What it checks is what the page
 * rendered (canvas pixels, DOM text), not the JSON behind it.
 *
 * Chromium comes from the project's setup (scripts/apt-packages.txt). Missing, the test fails and
 * says so; it is skipped only when asked (DAXMON_SKIP_BROWSER=1), never under CI=true.
 */
import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leakedAddress } from '../helpers/address-oracle.js';
import { PGMAP, PMEM_PFN } from '../helpers/events.js';
import { TOKEN } from '../helpers/http-world.js';
import { KNOWN_PAGES, viewWorld, type ViewWorld } from '../helpers/view-world.js';

const CHROMIUM = process.env.DAXMON_CHROMIUM ?? '/usr/bin/chromium';
const present = fs.existsSync(CHROMIUM);
const skip = !present && process.env.DAXMON_SKIP_BROWSER === '1' && process.env.CI !== 'true';

/** view/view.css's colours, as canvas pixels. */
const RGB: Record<string, [number, number, number]> = {
  idle: [0xd9, 0xdd, 0xe3],
  mapped: [0x3b, 0x82, 0xf6],
  pinned: [0xdc, 0x26, 0x26],
  referenced: [0xf5, 0x9e, 0x0b],
  free: [0xff, 0xff, 0xff],
  uncertain: [0xa8, 0x55, 0xf7],
};

describe.skipIf(skip)('the live view in headless Chromium', () => {
  let browser: Browser;
  let w: ViewWorld;

  beforeAll(async () => {
    if (!present)
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install it (scripts/install-deps.sh installs scripts/apt-packages.txt, chromium among them), point DAXMON_CHROMIUM at it, or skip this test locally with DAXMON_SKIP_BROWSER=1`,
      );
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    w = await viewWorld({ apiToken: TOKEN });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await w?.close();
  });

  /** A fresh page, every response body it fetched collected. */
  async function open(): Promise<{ page: Page; bodies: string[] }> {
    const page = await browser.newPage();
    const bodies: string[] = [];
    page.on('response', (r) => {
      void r.text().then(
        (t) => bodies.push(`${r.url()}\n${t}`),
        () => {},
      );
    });
    await page.goto(w.url);
    await page.waitForFunction(() => {
      const c = document.querySelector('canvas[data-pgmap="pm0"]') as HTMLCanvasElement | null;
      return c?.dataset.cells === '4096';
    });
    return { page, bodies };
  }

  /** The colour drawn at the centre of the cell holding page `offset` of pm0. */
  async function pixel(page: Page, offset: number): Promise<number[]> {
    return page.evaluate((k) => {
      const c = document.querySelector('canvas[data-pgmap="pm0"]') as HTMLCanvasElement;
      const cols = Number(c.dataset.cols);
      const px = Number(c.dataset.cellPx);
      const cell = Math.floor(k / Number(c.dataset.pagesPerCell));
      const x = (cell % cols) * px + 1;
      const y = Math.floor(cell / cols) * px + 1;
      return [...c.getContext('2d')!.getImageData(x, y, 1, 1).data.slice(0, 3)];
    }, offset);
  }

  it('draws each known page in its state’s colour, the compound folio outlined as a block', async () => {
    const { page } = await open();
    for (const [offset, state] of Object.entries(KNOWN_PAGES))
      expect(await pixel(page, Number(offset)), `page +${offset} (${state})`).toEqual(RGB[state]);
    expect(await page.textContent('.pgmap')).toContain('1 compound folio');
    await page.close();
  });

  it('shows a violation within a second of its event, newest first', async () => {
    const { page } = await open();
    await page.waitForSelector('#violations-count:has-text("stored")');
    const pfn = PMEM_PFN + 7;
    const t0 = performance.now();
    w.feed([
      {
        type: 'dax_entry_insert',
        t: w.nextT(),
        pid: 77,
        comm: 'victim',
        pfn,
        order: 0,
        dev: 271581184,
        ino: 12,
        index: 7,
        zero: false,
        empty: false,
        shared: false,
      },
    ]);
    w.feed([
      {
        type: 'folio_map',
        t: w.nextT(),
        pid: 77,
        comm: 'victim',
        pfn,
        order: 0,
        via: 'vmf_insert_page_mkwrite',
        write: true,
        ret: 0x100,
        refcount: 0,
        mapcount: 1,
      },
    ]);
    // the first item (newest first): the new violation, not the stored v0
    const li = await page.waitForSelector(
      '#violations > li:first-child[data-kind="map_zero_ref"]:not([data-id="v0"])',
      {
        timeout: 5000,
      },
    );
    const ms = performance.now() - t0;
    expect(ms, `violation shown ${ms.toFixed(0)} ms after its event`).toBeLessThan(1000);
    const text = (await li.textContent()) ?? '';
    expect(text).toContain(`pfn 0x${pfn.toString(16)}`);
    expect(text).toContain('victim [77]');
    expect(text).toContain('folio_map r0/m1');
    // The page it hit turns mapped on the map at the next map poll.
    await page.waitForFunction(
      (k) => {
        const c = document.querySelector('canvas[data-pgmap="pm0"]') as HTMLCanvasElement;
        const cols = Number(c.dataset.cols);
        const px = Number(c.dataset.cellPx);
        const d = c
          .getContext('2d')!
          .getImageData((k % cols) * px + 1, Math.floor(k / cols) * px + 1, 1, 1).data;
        return d[0] === 0x3b && d[1] === 0x82 && d[2] === 0xf6;
      },
      7,
      { timeout: 5000 },
    );
    await page.close();
  });

  it('without the token: health strip, map, violations, and no kernel address in the DOM or any response', async () => {
    const { page, bodies } = await open();
    await page.waitForSelector('li.violation[data-id="v0"]');
    // the record full of addresses is shown, its addresses redacted
    expect(await page.textContent('li.violation[data-id="v0"]')).toContain('[redacted]');
    await page.waitForSelector('#health .card:has-text("probes attached")');
    const health = (await page.textContent('#health')) ?? '';
    expect(health).toMatch(/probes attached\s*\d+ of \d+/);
    expect(health).toContain('devmap_put');
    expect(health).toContain('libbpf up (1 restarts)');
    expect(health).toMatch(/checks active\s*\d+ of \d+/);
    expect(await page.textContent('#kernel')).toContain('refcount model new');
    expect(await page.textContent('#token-status')).toContain('no token');
    // click a cell: its pages from /api/pgmaps/pm0/pages
    const box = await page.locator('canvas[data-pgmap="pm0"]').boundingBox();
    await page.mouse.click(box!.x + 2 * 6 + 3, box!.y + 3);
    await page.waitForSelector('#pages-table');
    expect(await page.textContent('#pages-table')).toContain(`0x${(PMEM_PFN + 2).toString(16)}`);
    const dom = await page.content();
    const text = await page.evaluate(() => document.body.innerText);
    expect(leakedAddress(dom)).toBeUndefined();
    expect(leakedAddress(text)).toBeUndefined();
    expect(bodies.some((b) => b.includes('/api/pgmaps/pm0/map'))).toBe(true);
    for (const b of bodies) expect(leakedAddress(b), b.slice(0, 200)).toBeUndefined();
    await page.close();
  });

  it('with the token pasted: kept in sessionStorage, sent as a Bearer token, addresses shown', async () => {
    const { page, bodies } = await open();
    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#token-status:has-text("token accepted")');
    expect(await page.evaluate(() => sessionStorage.getItem('daxmon-api-token'))).toBe(TOKEN);
    await page.waitForFunction((key) => document.querySelector('.pgmap')?.textContent?.includes(key), PGMAP);
    expect(bodies.some((b) => b.includes(PGMAP))).toBe(true);
    // the oracle sees what the token unlocks (so its silence above means something)
    expect(leakedAddress(await page.content())).toBeDefined();
    // forgotten: back to redacted answers
    await page.click('#token-forget');
    await page.waitForSelector('#token-status:has-text("no token")');
    await page.waitForFunction((key) => !document.querySelector('.pgmap')?.textContent?.includes(key), PGMAP);
    await page.close();
  });
});
