/**
 * CRC32C (Castagnoli, the checksum of ext4, btrfs and iSCSI): detects every single-bit and every
 * burst error up to 32 bits in a journal record, which is what a flipped bit on disk looks like.
 * Table-driven; the journal checksums a few records a minute, so speed is not the point.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The checksum as the journal writes it: 8 lower-case hex digits. */
export function crc32cHex(text: string): string {
  return crc32c(Buffer.from(text, 'utf8')).toString(16).padStart(8, '0');
}
