/**
 * A first-in first-out queue with O(1) push and shift (amortised): the journal's backlog, which
 * can hold hundreds of thousands of records on a full disk and drops its oldest one per new one.
 * Array.prototype.shift is O(n) once V8 stops trimming in place.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact once the dead prefix is half the array: each item is moved at most once per halving.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
}
