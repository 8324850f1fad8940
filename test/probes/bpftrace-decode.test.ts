import { describe, expect, it } from 'vitest';
import type { BackendLog } from '../../src/probes/backend.js';
import type { DaxEvent } from '../../src/events/types.js';
import { BpftraceDecoder, isTracerFrame, symbolizeFrame } from '../../src/probes/bpftrace/decode.js';
import { handleStderrLine, probeNamedIn } from '../../src/probes/bpftrace/stderr.js';
import { parseHook } from '../../src/probes/bpftrace/snippet.js';
import type { IncludedProbe } from '../../src/probes/bpftrace/script.js';

function recordingLog() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log: BackendLog = {
    debug: (msg, fields) => lines.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
  };
  return { log, lines };
}

function decode(text: string | string[], opts: { sleepsKnown?: boolean } = {}) {
  const { log, lines } = recordingLog();
  const d = new BpftraceDecoder({
    log,
    included: [{ probe: 'zone_device_free', detail: 'kfunc:free_zone_device_folio' }],
    sleepsKnown: opts.sleepsKnown ?? true,
  });
  const events: DaxEvent[] = [];
  for (const chunk of Array.isArray(text) ? text : [text]) d.push(Buffer.from(chunk), (e) => events.push(e));
  d.end((e) => events.push(e));
  return { events, logs: lines };
}

const T = '1000';
const base = { t: 1000, pid: 42, comm: 'python3' };

describe('bpftrace line decoder: one event per line type', () => {
  const cases: [string, DaxEvent][] = [
    [
      `R\t${T}\t42\th\t0xffff888100a00000\t3\t0\t0\t0\t1\t1310720\t262144\tpython3`,
      {
        ...base,
        type: 'pgmap_registered',
        pgmap: '0xffff888100a00000',
        pgmapType: 'fs_dax',
        ranges: [{ pfn: 1310720, nrPages: 262144 }],
        vmemmapShift: 0,
        hasPageFree: false,
        altmap: false,
        source: 'hook',
      },
    ],
    [
      `TR\t${T}\t42\t0xffff888100a00000\tpython3`,
      { ...base, type: 'pgmap_ref_released', pgmap: '0xffff888100a00000' },
    ],
    [
      `TD\t${T}\t42\t0xffff888100a00000\tpython3`,
      { ...base, type: 'pgmap_teardown_done', pgmap: '0xffff888100a00000' },
    ],
    [
      `F\t${T}\t42\t0\t271581184\t12\t7\t85\t256\tpython3`,
      { ...base, type: 'dax_fault', dev: 271581184, ino: 12, pgoff: 7, pmd: false, write: true, result: 256 },
    ],
    [
      `EI\t${T}\t42\t1310720\t9\t271581184\t12\t0\t4\tpython3`,
      {
        ...base,
        type: 'dax_entry_insert',
        pfn: 1310720,
        order: 9,
        dev: 271581184,
        ino: 12,
        index: 0,
        zero: false,
        empty: false,
        shared: true,
      },
    ],
    [
      `M\t${T}\t42\tvmf_insert_page_mkwrite\t1310721\t0\t1\t256\t1\t1\tpython3`,
      {
        ...base,
        type: 'folio_map',
        pfn: 1310721,
        order: 0,
        via: 'vmf_insert_page_mkwrite',
        write: true,
        ret: 256,
        refcount: 1,
        mapcount: 1,
      },
    ],
    [
      `U\t${T}\t42\t1310721\t0\t1\t1\t1\tpython3`,
      { ...base, type: 'folio_unmap', pfn: 1310721, order: 0, nr: 1, refcount: 1, mapcount: 1 },
    ],
    [
      `GG\t${T}\t42\t1310721\t0\t1\t524290\t0\t1025\t0\tpin`,
      {
        ...base,
        comm: 'pin',
        type: 'gup',
        op: 'pin',
        pfn: 1310721,
        order: 0,
        refs: 1,
        flags: 524290,
        result: 0,
        refcount: 1025,
        pincount: 0,
      },
    ],
    [
      `GG\t${T}\t42\t1310721\t0\t1\t2\t-11\t2\t0\tpin`,
      {
        ...base,
        comm: 'pin',
        type: 'gup',
        op: 'get',
        pfn: 1310721,
        order: 0,
        refs: 1,
        flags: 2,
        result: -11,
        refcount: 2,
        pincount: 0,
      },
    ],
    [
      `GP\t${T}\t42\t1310721\t0\t1\t524290\t1\t0\tpin`,
      {
        ...base,
        comm: 'pin',
        type: 'gup',
        op: 'unpin',
        pfn: 1310721,
        order: 0,
        refs: 1,
        flags: 524290,
        result: 0,
        refcount: 1,
        pincount: 0,
      },
    ],
    [`GL\t${T}\t42\t256\t-95\tpython3`, { ...base, type: 'gup_longterm_refused', flags: 256, result: -95 }],
    [
      `I\t${T}\t42\t1310721\t0\t0\tpython3`,
      { ...base, type: 'folio_idle', pfn: 1310721, order: 0, refcount: 0 },
    ],
    [
      `LB\t${T}\t42\t43\tdax_break_layout\t271581184\t12\t0\ttruncate me`,
      {
        ...base,
        comm: 'truncate me',
        type: 'layout_break_begin',
        tid: 43,
        dev: 271581184,
        ino: 12,
        fn: 'dax_break_layout',
        uninterruptible: false,
      },
    ],
    [
      `LE\t${T}\t42\t43\tdax_break_layout\t271581184\t12\t2\t0\tpython3`,
      {
        ...base,
        type: 'layout_break_end',
        tid: 43,
        dev: 271581184,
        ino: 12,
        fn: 'dax_break_layout',
        sleeps: 2,
        result: 0,
      },
    ],
  ];
  for (const [line, event] of cases) {
    it(`${line.split('\t')[0]} → ${event.type}`, () => {
      const { events, logs } = decode(line + '\n');
      expect(events).toEqual([event]);
      expect(logs.filter((l) => l.level === 'warn')).toEqual([]);
    });
  }

  it('stack-carrying lines (TB+, ER+, DP+, Z+, B+, LB+) collect the frames up to "." as function names only', () => {
    const text = [
      `Z+\t${T}\t42\t1310721\t0\t0\t0\tpython3`,
      '',
      '        free_zone_device_folio+0',
      '        __folio_put+124',
      '\tffffffffc0a01234',
      '\tffffffff81234567 folios_put_refs+0x1a2',
      '.',
      `TB+\t${T}\t42\t0xffff888100a00000\tbash`,
      '        memunmap_pages+1',
      '.',
      `ER+\t${T}\t42\t5\t0\t7\t12\t3\t1\t0\t0\tpython3`,
      '.',
      `DP+\t${T}\t42\t5\t0\t1\t2\tpin`,
      '        __put_devmap_managed_folio_refs+0',
      '.',
      `B+\t${T}\t42\t7\t12\t5\t0\t2\t1\ttruncate`,
      '        dax_layout_busy_page_range+0',
      '.',
      `LB+\t${T}\t42\t43\text4_break_layouts\t7\t12\t0\ttruncate`,
      '        ext4_break_layouts+0',
      '        ext4_setattr+712',
      '        notify_change+827',
      '.',
      '',
    ].join('\n');
    const { events } = decode(text);
    expect(events.map((e) => e.type)).toEqual([
      'zone_device_free',
      'pgmap_teardown_begin',
      'dax_entry_remove',
      'folio_put',
      'busy_page_found',
      'layout_break_begin',
    ]);
    expect(events[0]).toMatchObject({ refcount: 0, mapcount: 0, pageFreeCalled: null });
    expect(events[0]?.stack).toEqual(['free_zone_device_folio', '__folio_put', '?', 'folios_put_refs']);
    expect(JSON.stringify(events)).not.toMatch(/ffffffff/);
    expect(events[2]).toMatchObject({ trunc: true, index: 3 });
    expect(events[2]?.stack).toBeUndefined();
    expect(events[3]).toMatchObject({ refs: 1, refcount: 2 });
    expect(events[4]).toMatchObject({ type: 'busy_page_found', refcount: 2, mapcount: 1 });
    expect(events[5]).toMatchObject({ fn: 'ext4_break_layouts', tid: 43, ino: 12 });
    expect(events[5]?.stack).toEqual(['ext4_break_layouts', 'ext4_setattr', 'notify_change']);
  });

  it('the V line reports every included probe attached (BEGIN runs after the attach)', () => {
    const { events, logs } = decode(`Attaching 5 probes...\nV\t1\t777\tnew\nV\t1\t778\tnew\n`);
    expect(events).toEqual([
      {
        type: 'probe_status',
        t: 777,
        pid: 0,
        comm: '',
        backend: 'bpftrace',
        probe: 'zone_device_free',
        attached: true,
        detail: 'kfunc:free_zone_device_folio',
      },
    ]);
    expect(logs.some((l) => l.msg.startsWith('Attaching'))).toBe(true);
  });

  it('warns about an unknown format version but keeps decoding', () => {
    const { events, logs } = decode(`V\t2\t777\tnew\nI\t${T}\t42\t1\t0\t0\tx\n`);
    expect(events.map((e) => e.type)).toEqual(['probe_status', 'folio_idle']);
    expect(logs.some((l) => l.level === 'warn' && /another line format version/.test(l.msg))).toBe(true);
  });

  it('LE sleeps is null when layout_break_sleep is not in the script', () => {
    const { events } = decode(`LE\t${T}\t42\t43\text4_break_layouts\t7\t12\t0\t0\tx\n`, {
      sleepsKnown: false,
    });
    expect(events[0]).toMatchObject({ type: 'layout_break_end', sleeps: null });
  });

  it('a "Lost N events" line on stdout becomes events_lost stamped with the last kernel time', () => {
    const { events } = decode(`I\t5000\t42\t1\t0\t0\tx\nLost 17 events\n`);
    expect(events[1]).toEqual({
      type: 'events_lost',
      t: 5000,
      pid: 0,
      comm: '',
      backend: 'bpftrace',
      count: 17,
    });
  });
});

describe('bpftrace line decoder: malformed input is logged and skipped, never thrown', () => {
  const bad = [
    'garbage',
    `Q\t${T}\t42\tx`,
    `I\t${T}\t42\t1\t0\tx`, // too few fields? (comm present, refcount missing)
    `I\tnow\t42\t1\t0\t0\tx`,
    `I\t${T}\t42\tone\t0\t0\tx`,
    `R\t${T}\t42\th\tnothex\t3\t0\t0\t0\t1\t1\t1\tx`,
    `R\t${T}\t42\th\t0x1\t9\t0\t0\t0\t1\t1\t1\tx`,
    `R\t${T}\t42\tq\t0x1\t3\t0\t0\t0\t1\t1\t1\tx`,
    `M\t${T}\t42\tvm_insert_page\t1\t0\t1\t256\t1\t1\tx`,
    `LB\t${T}\t42\t43\tsomething_else\t7\t12\t0\tx`,
  ];
  for (const line of bad) {
    it(JSON.stringify(line.slice(0, 40)), () => {
      const { events, logs } = decode(`${line}\nI\t${T}\t42\t1\t0\t0\tok\n`);
      expect(events).toEqual([{ ...base, comm: 'ok', type: 'folio_idle', pfn: 1, order: 0, refcount: 0 }]);
      expect(logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    });
  }

  it('a stack block cut short by the next event still emits both events', () => {
    const { events, logs } = decode(`Z+\t${T}\t42\t1\t0\t0\t0\tx\n        a+1\nI\t${T}\t42\t1\t0\t0\tx\n`);
    expect(events.map((e) => e.type)).toEqual(['zone_device_free', 'folio_idle']);
    expect(events[0]?.stack).toEqual(['a']);
    expect(logs.some((l) => /not terminated/.test(l.msg))).toBe(true);
  });

  it('end() reports a truncated trailing line and an unfinished stack', () => {
    const { events, logs } = decode(`Z+\t${T}\t42\t1\t0\t0\t0\tx\n        a+1\nI\t${T}\t4`);
    expect(events.map((e) => e.type)).toEqual(['zone_device_free']);
    expect(logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'bpftrace output ended inside a line',
        'bpftrace output ended inside a stack block',
      ]),
    );
  });

  it('drops an endless line instead of growing without bound', () => {
    const { events, logs } = decode(['x'.repeat(70 * 1024), `\nI\t${T}\t42\t1\t0\t0\tok\n`]);
    expect(events).toHaveLength(1);
    expect(logs.some((l) => /longer than 64 KiB/.test(l.msg))).toBe(true);
  });
});

describe('bpftrace line decoder: chunk boundaries', () => {
  it('gives the same events however the stream is split, down to one byte per chunk', () => {
    const text = [
      `V\t1\t1\tnew`,
      `F\t${T}\t42\t1\t7\t12\t0\t1\t256\tpython3`,
      `Z+\t${T}\t42\t1310721\t9\t0\t0\tpython3`,
      '        free_zone_device_folio+0',
      '.',
      `M\t${T}\t42\tvmf_insert_folio_pmd\t1310720\t9\t1\t256\t1\t1\tpy thon\tx`,
      '',
    ].join('\n');
    const whole = decode(text).events;
    expect(whole.map((e) => e.type)).toEqual(['probe_status', 'dax_fault', 'zone_device_free', 'folio_map']);
    expect(whole[3]).toMatchObject({ comm: 'py thon\tx', order: 9 });
    for (const size of [1, 2, 3, 7, 64]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(decode(chunks).events).toEqual(whole);
    }
  });

  it('a UTF-8 character split across chunks is not mangled', () => {
    const line = Buffer.from(`I\t${T}\t42\t1\t0\t0\tpyé\n`);
    const { log } = recordingLog();
    const d = new BpftraceDecoder({ log, included: [], sleepsKnown: false });
    const events: DaxEvent[] = [];
    const cut = line.indexOf(0xc3) + 1;
    d.push(line.subarray(0, cut), (e) => events.push(e));
    d.push(line.subarray(cut), (e) => events.push(e));
    expect(events[0]?.comm).toBe('pyé');
  });
});

describe('tracer frames', () => {
  it("drop the BPF program and trampoline frames bpftrace's kstack puts on top (seen on 7.3)", () => {
    // The teardown stack of the 7.3 unbind, as the bpftrace backend first reported it.
    const text = [
      `TB+\t${T}\t42\t0xffff888100a00000\tbash`,
      '        bpf_prog_796a9da1c250ee77_memunmap_pages+297',
      '        bpf_prog_a904db53339a4567_dax_insert_entr+79',
      '        bpf_trampoline_6442512345+67',
      '        release_nodes+54',
      '        devres_release_all+143',
      '.',
      '',
    ].join('\n');
    const { events } = decode(text);
    expect(events[0]?.stack).toEqual(['release_nodes', 'devres_release_all']);
    expect(isTracerFrame('bpf_prog_796a9da1c250ee77_memunmap_pages')).toBe(true);
    expect(isTracerFrame('bpf_trampoline_6442512345')).toBe(true);
    expect(isTracerFrame('bpf_check')).toBe(false);
  });
});

describe('symbolizeFrame', () => {
  it('keeps function names, drops offsets and raw addresses', () => {
    expect(symbolizeFrame('        dax_iomap_fault+0x1f3')).toBe('dax_iomap_fault');
    expect(symbolizeFrame('\tffffffff81234567 do_syscall_64+90')).toBe('do_syscall_64');
    expect(symbolizeFrame('\tffffffffc0a01234')).toBe('?');
    expect(symbolizeFrame('   ')).toBeNull();
  });
});

describe('bpftrace stderr', () => {
  const included: IncludedProbe[] = [
    {
      probe: 'zone_device_free',
      files: ['zone_device_free.bt'],
      hooks: [parseHook('kfunc:free_zone_device_folio')],
      detail: '',
    },
    {
      probe: 'layout_break',
      files: ['layout_break.old.xfs.bt'],
      hooks: [parseHook('kfunc:xfs:xfs_break_dax_layouts')],
      detail: '',
    },
    {
      probe: 'dax_entry_remove',
      files: [],
      hooks: [parseHook('kprobe:dax_disassociate_entry.isra.0')],
      detail: '',
    },
  ];
  function run(line: string) {
    const { log, lines } = recordingLog();
    const events: DaxEvent[] = [];
    const failures: [string, string][] = [];
    handleStderrLine(line, (e) => events.push(e), log, {
      included,
      onAttachFailure: (p, r) => failures.push([p, r]),
      now: () => 99,
    });
    return { events, lines, failures };
  }

  it('"Lost N events" → events_lost with backend bpftrace', () => {
    const r = run('Lost 2048 events');
    expect(r.events).toEqual([
      { type: 'events_lost', t: 99, pid: 0, comm: '', backend: 'bpftrace', count: 2048 },
    ]);
    expect(r.lines[0]?.level).toBe('warn');
  });

  it('an attach error → probe_status attached=false for the probe that owns the hook, remembered', () => {
    const r = run("ERROR: Error attaching probe: 'kfunc:free_zone_device_folio'");
    expect(r.events).toEqual([
      {
        type: 'probe_status',
        t: 99,
        pid: 0,
        comm: '',
        backend: 'bpftrace',
        probe: 'zone_device_free',
        attached: false,
        detail: "ERROR: Error attaching probe: 'kfunc:free_zone_device_folio'",
      },
    ]);
    expect(r.failures).toEqual([
      ['zone_device_free', "ERROR: Error attaching probe: 'kfunc:free_zone_device_folio'"],
    ]);
    expect(run('ERROR: No BTF found for xfs_break_dax_layouts').events[0]).toMatchObject({
      probe: 'layout_break',
    });
    expect(
      run("ERROR: Error attaching probe: 'kprobe:dax_disassociate_entry.isra.0'").events[0],
    ).toMatchObject({
      probe: 'dax_entry_remove',
    });
  });

  it('an attach error naming no included hook is logged only', () => {
    const r = run("ERROR: Error attaching probe: 'kprobe:elsewhere'");
    expect(r.events).toEqual([]);
    expect(r.lines[0]?.level).toBe('error');
  });

  it('other stderr becomes log lines by level; the memlock notice is debug', () => {
    expect(run('WARNING: something').lines[0]?.level).toBe('warn');
    expect(run('ERROR: something else').lines[0]?.level).toBe('error');
    expect(run('hello').lines[0]?.level).toBe('info');
    expect(run("ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace.").lines[0]?.level).toBe(
      'debug',
    );
    expect(run('   ').lines).toEqual([]);
  });

  it('probeNamedIn prefers the longest matching hook name and needs word boundaries', () => {
    expect(probeNamedIn('free_zone_device_folio_extra', included)).toBeNull();
    expect(probeNamedIn("'kfunc:xfs:xfs_break_dax_layouts'", included)).toBe('layout_break');
  });
});
