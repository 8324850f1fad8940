/**
 * A kernel the user built, as the lab takes it (lab/src/user-kernel.ts): its release read from the
 * bzImage header, its config checked against the catalogue before anything boots, its modules
 * installed into the cache (never into the user's folders), and the command line that names it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bzImageRelease,
  configRefusal,
  ensureUserKernel,
  modelOfRelease,
} from '../../lab/src/user-kernel.js';
import { parseLabArgs } from '../../src/commands/lab.js';
import { bzImage } from '../helpers/bzimage.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const fixtureConfig = (dir: string, file: string) =>
  fs.readFileSync(path.join(root, 'test', 'fixtures', 'kernel', dir, 'boot', file), 'utf8');
const DEBIAN_73 = fixtureConfig('new-7.3', 'config-7.3.4+deb13-amd64');
const DEV_HOST = fixtureConfig('host-6.18', 'config-6.18.44-fc-v669');

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'daxmon-user-kernel-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('bzImage release and model', () => {
  it('reads the release from the setup header, and refuses what is not a bzImage', () => {
    expect(bzImageRelease(bzImage('7.3.4-dax+ (dev@box) #3 SMP PREEMPT_DYNAMIC'))).toBe('7.3.4-dax+');
    expect(bzImageRelease(bzImage('6.12.0-rc1 (x) #1'))).toBe('6.12.0-rc1');
    const elf = Buffer.alloc(0x4000);
    elf.write('\x7fELF', 0, 'latin1');
    expect(bzImageRelease(elf)).toBeNull(); // vmlinux, not bzImage
    expect(bzImageRelease(bzImage('not a version'))).toBeNull();
    expect(bzImageRelease(Buffer.alloc(16))).toBeNull();
  });

  it('new model from 6.15 on (docs/kernel-model.md §6)', () => {
    expect(['6.1.0', '6.14.9', '6.15', '7.3.4-dirty', '10.0'].map(modelOfRelease)).toEqual([
      'old',
      'old',
      'new',
      'new',
      'new',
    ]);
    expect(modelOfRelease('x')).toBeNull();
  });
});

describe('config check before booting', () => {
  it("passes Debian's 7.3.4 config and refuses the development machine's, naming each missing option", () => {
    expect(configRefusal(DEBIAN_73, 'kernel 7.3.4')).toBeNull();
    const why = configRefusal(DEV_HOST, 'kernel 6.18.44');
    expect(why).toMatch(/^kernel 6\.18\.44 lacks what daxmon or the lab needs: /);
    for (const key of ['NVDIMM_PFN (=n', 'X86_PMEM_LEGACY (=n', 'NET_9P_VIRTIO (absent', '9P_FS (absent']) {
      expect(why).toContain(`CONFIG_${key}`);
    }
    expect(why).not.toContain('CONFIG_ZONE_DEVICE');
    expect(why).toContain('merge_config.sh');
  });

  it('refuses a tree whose config lacks FS_DAX before running anything (no make, nothing cached)', async () => {
    const tree = tmp();
    const cache = tmp();
    fs.mkdirSync(path.join(tree, 'arch', 'x86', 'boot'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'arch', 'x86', 'boot', 'bzImage'), bzImage('7.3.0-mine (me) #1'));
    fs.writeFileSync(
      path.join(tree, '.config'),
      DEBIAN_73.replace('CONFIG_FS_DAX=y', '# CONFIG_FS_DAX is not set'),
    );
    await expect(ensureUserKernel({ tree }, { cacheDir: cache, log: () => {} })).rejects.toMatchObject({
      code: 'DAXMON_E_VM_KERNEL_CONFIG',
      message: expect.stringContaining('CONFIG_FS_DAX (=n: DAX mounts and the fs_dax:* tracepoints)'),
    });
    expect(fs.readdirSync(cache)).toEqual([]);
  });
});

describe('ensureUserKernel', () => {
  it('an image with every driver built in (CONFIG_MODULES off): copied into the cache, empty modules.dep, reused', async () => {
    const d = tmp();
    const cache = tmp();
    const image = path.join(d, 'bzImage');
    fs.writeFileSync(image, bzImage('7.3.0-allin (me) #2'));
    const config = path.join(d, 'config');
    fs.writeFileSync(config, DEBIAN_73.replace(/=m$/gm, '=y') + '# CONFIG_MODULES is not set\n');
    const lines: string[] = [];
    const k = await ensureUserKernel({ image, config }, { cacheDir: cache, log: (l) => lines.push(l) });
    expect(k).toMatchObject({ series: 'user', model: 'new', release: '7.3.0-allin' });
    expect(k.vmlinuz.startsWith(cache)).toBe(true);
    expect(fs.readFileSync(k.vmlinuz)).toEqual(fs.readFileSync(image));
    expect(fs.readFileSync(path.join(k.modulesDir, 'modules.dep'), 'utf8')).toBe('');
    expect(lines.join('\n')).toContain('user kernel 7.3.0-allin (new refcount model) checked and ready');
    // The user's next build changes the image: the old cache entry is not served for it.
    fs.writeFileSync(image, bzImage('7.3.0-allin2 (me) #3'));
    const k2 = await ensureUserKernel({ image, config }, { cacheDir: cache, log: () => {} });
    expect(k2.release).toBe('7.3.0-allin2');
    expect(k2.packageVersion).not.toBe(k.packageVersion);
    // Same image again: the cache entry, no new work.
    expect(await ensureUserKernel({ image, config }, { cacheDir: cache, log: () => {} })).toEqual(k2);
  });

  it('an image with modules: copies them and runs depmod in the cache, never in the user folder', async () => {
    const d = tmp();
    const cache = tmp();
    const image = path.join(d, 'bzImage');
    fs.writeFileSync(image, bzImage('7.3.0-mods (me) #1'));
    const modules = path.join(d, 'lib', 'modules', '7.3.0-mods');
    fs.mkdirSync(path.join(modules, 'kernel'), { recursive: true });
    fs.writeFileSync(path.join(modules, 'config'), DEBIAN_73 + 'CONFIG_MODULES=y\n');
    const k = await ensureUserKernel({ image, modules }, { cacheDir: cache, log: () => {} });
    expect(fs.existsSync(path.join(k.modulesDir, 'modules.dep'))).toBe(true);
    expect(fs.existsSync(path.join(modules, 'modules.dep'))).toBe(false);
  });

  it('says what is missing: no config, modules needed, not a bzImage, a tree not built', async () => {
    const d = tmp();
    const cache = tmp();
    const image = path.join(d, 'bzImage');
    fs.writeFileSync(image, bzImage('7.3.0-x (me) #1'));
    const opts = { cacheDir: cache, log: () => {} };
    await expect(ensureUserKernel({ image }, opts)).rejects.toMatchObject({
      code: 'DAXMON_E_VM_USER_KERNEL',
      message: expect.stringContaining('give --config FILE'),
    });
    const config = path.join(d, 'config');
    fs.writeFileSync(config, DEBIAN_73 + 'CONFIG_MODULES=y\n');
    await expect(ensureUserKernel({ image, config }, opts)).rejects.toMatchObject({
      code: 'DAXMON_E_VM_USER_KERNEL',
      message: expect.stringContaining('give --modules DIR (lib/modules/7.3.0-x'),
    });
    fs.writeFileSync(image, Buffer.from('\x7fELF not a bzImage'));
    await expect(ensureUserKernel({ image, config }, opts)).rejects.toMatchObject({
      code: 'DAXMON_E_VM_USER_KERNEL',
      message: expect.stringContaining('not an x86 bzImage'),
    });
    await expect(ensureUserKernel({ tree: d }, opts)).rejects.toMatchObject({
      code: 'DAXMON_E_VM_USER_KERNEL',
      message: expect.stringContaining('no bzImage in the tree (run `make` first)'),
    });
  });
});

describe('daxmon lab command line for a user kernel', () => {
  it('--kernel takes a series or an image; --kernel-tree a tree; --modules/--config only with an image', () => {
    expect(parseLabArgs(['--kernel', '6.12'], '/r')).toMatchObject({ series: '6.12' });
    expect(parseLabArgs(['--kernel', '6.12'], '/r').userKernel).toBeUndefined();
    expect(
      parseLabArgs(['--kernel', '/k/bzImage', '--modules', '/k/mods', '--config', '/k/.config'], '/r'),
    ).toMatchObject({
      series: 'user',
      userKernel: { image: '/k/bzImage', modules: '/k/mods', config: '/k/.config' },
    });
    expect(parseLabArgs(['--kernel-tree', '/src/linux'], '/r')).toMatchObject({
      userKernel: { tree: '/src/linux' },
    });
    expect(() => parseLabArgs(['--kernel-tree', '/t', '--kernel', '/k'], '/r')).toThrow(
      /name the kernel twice/,
    );
    expect(() => parseLabArgs(['--kernel', '7', '--modules', '/m'], '/r')).toThrow(/go with --kernel IMAGE/);
    expect(() => parseLabArgs(['--kernel-tree', '/t', '--config', '/c'], '/r')).toThrow(
      /go with --kernel IMAGE/,
    );
    expect(() => parseLabArgs(['--kernel', ''], '/r')).toThrow(/--kernel '' is empty/);
  });
});
