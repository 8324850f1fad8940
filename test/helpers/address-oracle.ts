/**
 * An oracle for "no kernel address in this text", written from the policy in src/server/redact.ts
 * (its module comment) and sharing no code with it: every hex or decimal run of the text is read
 * with BigInt and its value checked, so a form the redactor's patterns miss is found here.
 *   - a run of exactly 16 hex digits (with or without `0x`): an address when in
 *     [0xff00000000000000, 2^64);
 *   - a run of decimal digits: an address when at least 0xff00000000000000 and read as a double
 *     at most 2^64 (what 0xfffffffffffffc00 and above become, printed `18446744073709552000`);
 *   - `-` and decimal digits: an address read as signed 64-bit, [-2^56, -2^32].
 * A run is maximal over [0-9a-fA-F] (so a longer hash is one run, not an address).
 */
const LOW = 0xff00000000000000n;
const TWO_64 = 1n << 64n;

/** The first kernel address left in `text`, or undefined. */
export function leakedAddress(text: string): string | undefined {
  for (const m of text.matchAll(/(-?)(0[xX])?([0-9a-fA-F]+)/g)) {
    const [whole, minus, prefix, digits] = m as unknown as [string, string, string | undefined, string];
    const decimal = !prefix && /^[0-9]+$/.test(digits);
    if (decimal) {
      const n = BigInt(digits);
      if (!minus && n >= LOW && Number(n) <= 2 ** 64) return whole;
      if (minus && n <= 1n << 56n && n >= 1n << 32n) return whole;
    }
    if (digits.length === 16) {
      const n = BigInt(`0x${digits}`);
      if (n >= LOW && n < TWO_64) return whole;
    }
  }
  return undefined;
}
