import { describe, expect, it } from 'vitest';
import type { StopState } from '../../lab/src/stop.js';
import { INITIAL_STOP, REPEAT_WINDOW_MS, describeStop, nextStop } from '../../lab/src/stop.js';
import { labOutcome } from '../../lab/src/lab.js';

const req = (atMs: number, cause: 'SIGINT' | 'duration' | 'aborted' = 'SIGINT', guestUp = true) =>
  ({ kind: 'request', cause, atMs, guestUp }) as const;

describe('the lab stop rules', () => {
  it('first Ctrl-C asks the guest to stop daxmon; a second one kills qemu', () => {
    const a = nextStop(INITIAL_STOP, req(1000));
    expect(a).toEqual({ state: { phase: 'stopping', cause: 'SIGINT', atMs: 1000 }, action: 'ask-guest' });
    const b = nextStop(a.state, req(5000));
    expect(b).toEqual({ state: { phase: 'forced', cause: 'SIGINT', why: 'second-request' }, action: 'kill' });
    expect(nextStop(b.state, req(9000))).toEqual({ state: b.state, action: 'none' });
  });

  it('one Ctrl-C delivered twice (terminal and npm) is one request', () => {
    const a = nextStop(INITIAL_STOP, req(1000));
    expect(nextStop(a.state, req(1000 + REPEAT_WINDOW_MS - 1)).action).toBe('none');
    expect(nextStop(a.state, req(1000 + REPEAT_WINDOW_MS)).action).toBe('kill');
  });

  it('kills qemu when the guest does not power off in time, and before the guest is up', () => {
    const a = nextStop(INITIAL_STOP, req(0, 'duration'));
    expect(a.action).toBe('ask-guest');
    expect(nextStop(a.state, { kind: 'no-answer' })).toEqual({
      state: { phase: 'forced', cause: 'duration', why: 'no-answer' },
      action: 'kill',
    });
    expect(nextStop(INITIAL_STOP, req(0, 'SIGINT', false))).toEqual({
      state: { phase: 'forced', cause: 'SIGINT', why: 'not-up' },
      action: 'kill',
    });
    expect(nextStop(INITIAL_STOP, { kind: 'no-answer' }).action).toBe('none');
  });

  it('--duration during a stop changes nothing; an abort after it forces like Ctrl-C', () => {
    const a = nextStop(INITIAL_STOP, req(0, 'SIGINT'));
    expect(nextStop(a.state, req(60_000, 'duration')).action).toBe('none');
    expect(nextStop(a.state, req(60_000, 'aborted')).action).toBe('kill');
  });

  it('says what it does', () => {
    expect(describeStop(INITIAL_STOP)).toBeUndefined();
    expect(describeStop({ phase: 'stopping', cause: 'SIGINT', atMs: 0 })).toMatch(
      /SIGINT: stopping daxmon \(SIGTERM\).*again to force/,
    );
    expect(describeStop({ phase: 'stopping', cause: 'duration', atMs: 0 })).toMatch(/^duration reached/);
    expect(describeStop({ phase: 'forced', cause: 'SIGINT', why: 'no-answer' })).toMatch(
      /within 60 s: killing qemu/,
    );
    expect(describeStop({ phase: 'forced', cause: 'SIGINT', why: 'not-up' })).toMatch(/not up yet/);
  });
});

describe("the lab's exit status", () => {
  const stopping: StopState = { phase: 'stopping', cause: 'SIGINT', atMs: 0 };
  const clean = {
    metricsServed: true,
    stop: stopping,
    daxmonExit: 0,
    guest: { status: 'done' as const, jobExitCode: 0, poweredOff: true },
  };

  it('is 0 only for a clean stop on request', () => {
    expect(labOutcome(clean)).toEqual({
      exitStatus: 0,
      summary: expect.stringMatching(/stopped cleanly.*journal.*powered off/) as unknown as string,
    });
  });

  it('is 130 when forced, 1 when daxmon or the guest failed', () => {
    expect(
      labOutcome({ ...clean, stop: { phase: 'forced', cause: 'SIGINT', why: 'second-request' } }).exitStatus,
    ).toBe(130);
    const failed = labOutcome({ ...clean, daxmonExit: 137, guest: { ...clean.guest, jobExitCode: 137 } });
    expect(failed.exitStatus).toBe(1);
    expect(failed.summary).toMatch(/daxmon exited with status 137/);
    expect(labOutcome({ ...clean, metricsServed: false }).summary).toMatch(/never answered \/metrics/);
    expect(labOutcome({ ...clean, stop: INITIAL_STOP }).summary).toMatch(/exited before it was asked/);
    expect(labOutcome({ ...clean, guest: { ...clean.guest, poweredOff: false } }).exitStatus).toBe(1);
    expect(
      labOutcome({ ...clean, guest: { status: 'panic', jobExitCode: undefined, poweredOff: false } }).summary,
    ).toMatch(/panicked/);
    expect(
      labOutcome({ ...clean, guest: { status: 'timeout', jobExitCode: undefined, poweredOff: false } })
        .exitStatus,
    ).toBe(1);
    expect(
      labOutcome({ ...clean, guest: { status: 'exited', jobExitCode: undefined, poweredOff: false } })
        .summary,
    ).toMatch(/without finishing/);
  });
});
