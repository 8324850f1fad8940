export * from './errors.js';
export * from './kernels.js';
export * from './guest.js';
export * from './pmem.js';
export * from './paths.js';
export * from './log.js';
export { killAllQemu, liveQemuCount } from './qemu.js';
export type { Share } from './init-script.js';
export * from './lab.js';
