/** Run synthetic events through the real pipeline and collect what it reports. */
import type { CheckConfig } from '../../src/checks/types.js';
import type { DaxEvent, RefcountModel } from '../../src/events/types.js';
import { buildPipeline, type Pipeline } from '../../src/pipeline.js';
import type { Violation, ViolationUpdate } from '../../src/violations/violation.js';
import { Stream } from './events.js';

export interface Run {
  pipeline: Pipeline;
  violations: Violation[];
  updates: { v: Violation; u: ViolationUpdate }[];
}

/**
 * Replay `events` under `model`. The final tick runs at `tickAt`, else at the stream's own clock
 * when given a Stream (so trailing `wait()`s count), else at the last event.
 */
export function run(
  model: RefcountModel,
  events: DaxEvent[] | Stream,
  opts: { config?: Partial<CheckConfig>; assumeProbes?: boolean; tickAt?: number } = {},
): Run {
  const tickAt = opts.tickAt ?? (events instanceof Stream ? events.t : undefined);
  const list = events instanceof Stream ? events.events : events;
  const violations: Violation[] = [];
  const updates: Run['updates'] = [];
  const pipeline = buildPipeline({
    model,
    kernelRelease: model === 'new' ? '7.3.4' : '6.12.117',
    assumeProbesWhenUnknown: opts.assumeProbes ?? true,
    ...(opts.config ? { checkConfig: opts.config } : {}),
    sink: {
      violation(v, u) {
        updates.push({ v, u });
        if (u === 'new') violations.push(v);
      },
    },
  });
  for (const e of list) pipeline.ingest(e);
  pipeline.tick(tickAt ?? pipeline.state.lastT);
  return { pipeline, violations, updates };
}

export function kinds(r: Run): string[] {
  return r.violations.map((v) => v.kind);
}
