import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { replay } from '../../src/replay.js';
import { TRANSFORMS, parseStream, renderStream } from './vm-transforms.js';

// Real recordings made with `daxmon record` (libbpf backend) in the VM lab (test/vm/violations.vm.test.ts
// with DAXMON_VM_RECORD_FIXTURES=1), replayed unedited (a healthy kernel: no violation) and edited by
// the transformations of vm-transforms.ts (each must raise exactly its kind, on the folio it edited).
const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'vm');
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.ndjson'))
  .sort();

describe('replays of VM recordings', () => {
  it('has a recording of each refcount model', () => {
    const models = files.map(
      (f) => parseStream(fs.readFileSync(path.join(DIR, f), 'utf8')).header.kernel.model,
    );
    expect(new Set(models)).toEqual(new Set(['new', 'old']));
  });

  for (const f of files) {
    const text = fs.readFileSync(path.join(DIR, f), 'utf8');
    const stream = parseStream(text);
    const model = stream.header.kernel.model;

    describe(`${f} (${stream.header.kernel.release}, ${model} model, ${stream.events.length} events)`, () => {
      it('is a real recording with the probes attached and folios mapped', () => {
        const attached = stream.events.filter((e) => e.type === 'probe_status' && e.attached);
        expect(attached.length).toBeGreaterThan(5);
        expect(stream.events.filter((e) => e.type === 'folio_map').length).toBeGreaterThan(0);
      });

      it('replays unedited with no violation', async () => {
        const r = await replay(Buffer.from(text));
        expect(r.errors).toEqual([]);
        expect(r.model).toBe(model);
        expect(r.violations).toEqual([]);
      });

      for (const t of TRANSFORMS.filter((x) => x.models.includes(model))) {
        it(`edited: ${t.kind}: ${t.description}`, async () => {
          const edited = t.apply(stream);
          const r = await replay(Buffer.from(renderStream(edited.stream)));
          expect(r.errors).toEqual([]);
          const got = r.violations.map((v) => ({ kind: v.kind, pfn: v.pfn }));
          expect(got).toEqual([{ kind: t.kind, pfn: edited.pfn }]);
        });
      }
    });
  }
});
