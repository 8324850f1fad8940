/** The first bytes of an x86 bzImage as Documentation/arch/x86/boot.rst lays them out. */
export function bzImage(version: string): Buffer {
  const b = Buffer.alloc(0x4000);
  b.writeUInt32LE(0x53726448, 0x202); // "HdrS"
  b.writeUInt16LE(0x020f, 0x206); // boot protocol 2.15
  b.writeUInt16LE(0x3000 - 0x200, 0x20e); // kernel_version, from 0x200
  b.write(`${version}\0`, 0x3000, 'latin1');
  return b;
}
