/**
 * How the lab stops: a pure state machine, so the Ctrl-C rules are tested without a guest.
 *
 * The first request (Ctrl-C, SIGTERM, the caller's abort, --duration) asks the guest to stop
 * daxmon with SIGTERM and power off; a second Ctrl-C (or abort), or no power-off within
 * STOP_ANSWER_MS, kills qemu. Under `npm run lab` one Ctrl-C can reach node twice (the terminal
 * signals the whole foreground group and npm forwards its own copy), so a repeat within
 * REPEAT_WINDOW_MS is the same Ctrl-C, not the second one.
 */
export type StopCause = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'aborted' | 'duration';

/** Why qemu was killed instead of powering itself off. */
export type ForceReason = 'second-request' | 'no-answer' | 'not-up';

export type StopState =
  | { phase: 'running' }
  | { phase: 'stopping'; cause: StopCause; atMs: number }
  | { phase: 'forced'; cause: StopCause; why: ForceReason };

export type StopEvent =
  | { kind: 'request'; cause: StopCause; atMs: number; guestUp: boolean }
  /** The guest did not power off within STOP_ANSWER_MS of the first request. */
  | { kind: 'no-answer' };

/** What the lab must do: ask the guest to stop (and arm the no-answer timer), kill qemu, or nothing. */
export type StopAction = 'ask-guest' | 'kill' | 'none';

export const REPEAT_WINDOW_MS = 1000;
export const STOP_ANSWER_MS = 60_000;

export const INITIAL_STOP: StopState = { phase: 'running' };

export function nextStop(state: StopState, ev: StopEvent): { state: StopState; action: StopAction } {
  switch (state.phase) {
    case 'running':
      if (ev.kind !== 'request') return { state, action: 'none' };
      // Before the guest is up there is no daxmon to stop: end the boot.
      if (!ev.guestUp) return { state: { phase: 'forced', cause: ev.cause, why: 'not-up' }, action: 'kill' };
      return { state: { phase: 'stopping', cause: ev.cause, atMs: ev.atMs }, action: 'ask-guest' };
    case 'stopping':
      if (ev.kind === 'no-answer')
        return { state: { phase: 'forced', cause: state.cause, why: 'no-answer' }, action: 'kill' };
      // --duration firing during a stop already asked for changes nothing.
      if (ev.cause === 'duration') return { state, action: 'none' };
      if (ev.atMs - state.atMs < REPEAT_WINDOW_MS) return { state, action: 'none' };
      return { state: { phase: 'forced', cause: state.cause, why: 'second-request' }, action: 'kill' };
    case 'forced':
      return { state, action: 'none' };
  }
}

/** The line the lab prints when a stop request is acted on. */
export function describeStop(state: StopState): string | undefined {
  if (state.phase === 'stopping') {
    const what = state.cause === 'duration' ? 'duration reached' : state.cause;
    return `${what}: stopping daxmon (SIGTERM) and powering the guest off; Ctrl-C again to force`;
  }
  if (state.phase === 'forced') {
    const why =
      state.why === 'not-up'
        ? 'the guest was not up yet'
        : state.why === 'second-request'
          ? 'asked again'
          : `the guest did not power off within ${STOP_ANSWER_MS / 1000} s`;
    return `${why}: killing qemu (daxmon in the guest did not stop cleanly)`;
  }
  return undefined;
}
