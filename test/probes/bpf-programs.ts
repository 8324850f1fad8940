/**
 * The programs of a libbpf BPF C source, read without a compiler: `SEC("…")` followed by the
 * function it names, with the object-like uses of the file's own function-like macros (the
 * INSERT_FEXIT/BREAK_PROGS families) expanded first. Enough for daxmon.bpf.c; not a C preprocessor.
 */
export interface BpfProgram {
  /** ELF section: `fentry/free_zone_device_folio`, `tracepoint/fs_dax/dax_pte_fault_done`. */
  section: string;
  name: string;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

/** Arguments of a call whose `(` is at `open`, split at top-level commas; and the index after `)`. */
function callArgs(text: string, open: number): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = open; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '(') {
      if (depth++ > 0) cur += c;
    } else if (c === ')') {
      if (--depth === 0) {
        args.push(cur.trim());
        return { args, end: i + 1 };
      }
      cur += c;
    } else if (c === ',' && depth === 1) {
      args.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  throw new Error(`unbalanced call at ${open}`);
}

interface Macro {
  params: string[];
  body: string;
}

function expand(m: Macro, args: string[]): string {
  let body = m.body;
  m.params.forEach((p, i) => {
    const a = args[i] ?? '';
    body = body.replace(new RegExp(`(?<!#)#\\s*${p}\\b`, 'g'), `"${a}"`);
    body = body.replace(new RegExp(`\\b${p}\\b`, 'g'), a);
  });
  return body.replace(/\s*##\s*/g, '').replace(/"\s+"/g, '');
}

export function bpfPrograms(source: string): BpfProgram[] {
  const text = stripComments(source.replace(/\\\r?\n/g, ' '));
  const macros = new Map<string, Macro>();
  const plain: string[] = [];
  for (const line of text.split('\n')) {
    const d = /^\s*#\s*define\s+([A-Za-z_]\w*)\(([^)]*)\)(.*)$/.exec(line);
    if (d) {
      if ((d[3] as string).includes('SEC('))
        macros.set(d[1] as string, {
          params: (d[2] as string).split(',').map((p) => p.trim()),
          body: d[3] as string,
        });
      continue;
    }
    plain.push(line);
  }
  let code = plain.join('\n');
  for (const [name, m] of macros) {
    const use = new RegExp(`^[ \\t]*${name}\\(`, 'gm');
    let out = '';
    let last = 0;
    for (let hit = use.exec(code); hit !== null; hit = use.exec(code)) {
      const open = hit.index + hit[0].length - 1;
      const { args, end } = callArgs(code, open);
      out += code.slice(last, hit.index) + expand(m, args) + '\n';
      last = end;
      use.lastIndex = end;
    }
    code = out + code.slice(last);
  }
  const progs: BpfProgram[] = [];
  const re = /SEC\("([^"]+)"\)\s*int\s+(?:BPF_(?:K(?:RET)?PROBE|PROG)\(\s*)?([A-Za-z_]\w*)/g;
  for (const m of code.matchAll(re)) progs.push({ section: m[1] as string, name: m[2] as string });
  return progs;
}
