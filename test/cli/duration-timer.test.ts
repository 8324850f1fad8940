/**
 * `--duration` of any length (issue 13, item 6): setTimeout fires at once for a delay above
 * 2^31-1 ms (24.8 days), so `--duration 2500000` stopped daxmon right after start.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { afterSeconds } from '../../src/commands/run.js';

afterEach(() => vi.useRealTimers());

describe('afterSeconds', () => {
  it('2500000 s: not a millisecond early, then exactly once', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    afterSeconds(2_500_000, fn);
    vi.advanceTimersByTime(1_900);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2_500_000_000 - 1_900 - 1);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10 * 2_500_000_000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('short and zero durations, and cancel', () => {
    vi.useFakeTimers();
    const zero = vi.fn();
    const one = vi.fn();
    const cancelled = vi.fn();
    afterSeconds(0, zero);
    afterSeconds(1, one);
    afterSeconds(5e6, cancelled).cancel();
    vi.advanceTimersByTime(999);
    expect(zero).toHaveBeenCalledTimes(1);
    expect(one).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(one).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(6e9);
    expect(cancelled).not.toHaveBeenCalled();
  });
});
