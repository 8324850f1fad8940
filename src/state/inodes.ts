/**
 * Interns (dev, ino) pairs as small integers so that a folio's DAX entry costs four bytes.
 * Id 0 means "no inode".
 */
export class InodeTable {
  private readonly byDev = new Map<number, Map<number, number>>();
  private readonly devs: number[] = [0];
  private readonly inos: number[] = [0];

  get size(): number {
    return this.devs.length - 1;
  }

  intern(dev: number, ino: number): number {
    let m = this.byDev.get(dev);
    if (m === undefined) {
      m = new Map();
      this.byDev.set(dev, m);
    }
    let id = m.get(ino);
    if (id === undefined) {
      id = this.devs.length;
      this.devs.push(dev);
      this.inos.push(ino);
      m.set(ino, id);
    }
    return id;
  }

  /** The id if already interned, else 0 (lookups must not grow the table). */
  find(dev: number, ino: number): number {
    return this.byDev.get(dev)?.get(ino) ?? 0;
  }

  dev(id: number): number {
    return this.devs[id] ?? 0;
  }

  ino(id: number): number {
    return this.inos[id] ?? 0;
  }
}

/** Kernel dev_t (MAJOR << 20 | MINOR, include/linux/kdev_t.h) as "major:minor". */
export function formatDev(dev: number): string {
  return `${Math.floor(dev / 1048576)}:${dev % 1048576}`;
}
