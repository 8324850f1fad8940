/**
 * Replay throughput on one core: a healthy recorded stream (new model: fault, insert, map, unmap,
 * free, remove per page; old model: fault, insert, map, remove) is replayed in memory through
 * exactly the live pipeline, from NDJSON and from the binary format. Reported as events/s and as
 * ratios measured in the same run (a noisy machine moves all of them): NDJSON replay to
 * JSON.parse alone, binary replay to NDJSON replay, binary replay to the pipeline alone.
 */
import { replay } from '../src/replay.js';
import { BinaryEncoder } from '../src/events/binary.js';
import { buildPipeline } from '../src/pipeline.js';
import type { DaxEvent } from '../src/events/types.js';
import { PMEM_PFN, Stream } from '../test/helpers/events.js';

export interface ReplayBench {
  model: 'old' | 'new';
  events: number;
  replayEventsPerSecond: number;
  parseOnlyEventsPerSecond: number;
  pipelineOnlyEventsPerSecond: number;
  /** replay rate / JSON.parse rate: the share of the parse-bound ceiling the pipeline keeps. */
  ratioToParse: number;
  binaryReplayEventsPerSecond: number;
  /** binary replay rate / NDJSON replay rate. */
  binaryToNdjson: number;
  /** binary replay rate / pipeline-only rate: the share of the pipeline's ceiling decoding keeps. */
  binaryToPipeline: number;
}

function streamText(model: 'old' | 'new', pages: number, rounds: number): { text: Buffer; events: number } {
  const s = new Stream(model).pgmap();
  for (let r = 0; r < rounds; r++) for (let i = 0; i < pages; i++) s.healthyPage(PMEM_PFN + i);
  return { text: Buffer.from(s.ndjson()), events: s.events.length };
}

function best<T>(n: number, f: () => T, score: (t: T) => number): number {
  let top = 0;
  for (let i = 0; i < n; i++) top = Math.max(top, score(f()));
  return top;
}

export async function benchReplay(model: 'old' | 'new', pages = 50_000, rounds = 4): Promise<ReplayBench> {
  const { text, events } = streamText(model, pages, rounds);
  const lines = text.toString('utf8').split('\n').slice(1, -1);

  const parseRate = best(
    3,
    () => {
      const t0 = process.hrtime.bigint();
      let n = 0;
      for (const l of lines) if (JSON.parse(l)) n++;
      return n / (Number(process.hrtime.bigint() - t0) / 1e9);
    },
    (x) => x,
  );
  let replayRate = 0;
  for (let i = 0; i < 3; i++) {
    const r = await replay(text);
    if (r.events !== events || r.errors.length) throw new Error(`replay read ${r.events}/${events} events`);
    replayRate = Math.max(replayRate, r.events / r.seconds);
  }
  const parsed = lines.map((l) => JSON.parse(l) as DaxEvent);
  const enc = new BinaryEncoder();
  const binary = Buffer.concat([
    enc.header({ created: 'bench', kernel: { release: 'bench', model } }),
    enc.events(parsed),
  ]);
  let binaryRate = 0;
  for (let i = 0; i < 3; i++) {
    const r = await replay(binary);
    if (r.events !== events || r.errors.length)
      throw new Error(`binary replay read ${r.events}/${events} events`);
    binaryRate = Math.max(binaryRate, r.events / r.seconds);
  }
  const pipelineRate = best(
    3,
    () => {
      const p = buildPipeline({
        model,
        kernelRelease: 'bench',
        sink: { violation() {} },
        assumeProbesWhenUnknown: true,
      });
      const t0 = process.hrtime.bigint();
      for (const e of parsed) p.ingest(e);
      return parsed.length / (Number(process.hrtime.bigint() - t0) / 1e9);
    },
    (x) => x,
  );
  return {
    model,
    events,
    replayEventsPerSecond: Math.round(replayRate),
    parseOnlyEventsPerSecond: Math.round(parseRate),
    pipelineOnlyEventsPerSecond: Math.round(pipelineRate),
    ratioToParse: Number((replayRate / parseRate).toFixed(3)),
    binaryReplayEventsPerSecond: Math.round(binaryRate),
    binaryToNdjson: Number((binaryRate / replayRate).toFixed(3)),
    binaryToPipeline: Number((binaryRate / pipelineRate).toFixed(3)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const model of ['new', 'old'] as const) console.log(JSON.stringify(await benchReplay(model)));
}
