/**
 * DaxmonViolation: one rule per violation kind, each with the kernel meaning of its invariant, a
 * catch-all for kinds a newer daxmon adds, and the dedicated V5 pgmap-teardown alert.
 */
import { VIOLATION_KINDS } from '../metrics-contract.js';
import type { ViolationKind } from '../metrics-contract.js';
import { notRe, oneOf } from '../promql.js';
import { API, BY, EVENT_WINDOW, counted, runbook, severityFromViolation } from './common.js';
import type { AlertRule } from './types.js';
import { KIND_GUIDES } from './violation-kinds.js';

/** `kind` is a known kind (filterable in the API), or undefined for the catch-all rule. */
const commonViolationSteps = (kind?: ViolationKind): string[] => [
  kind
    ? `GET ${API}/api/violations?kind=${kind} and read the entries: pfn, pgmap, the refcount and mapcount daxmon read, the event that triggered the check, and the symbolized kernel stack.`
    : `GET ${API}/api/violations and read the {{ $labels.kind }} entries: pfn, pgmap, the refcount and mapcount daxmon read, the event that triggered the check, and the symbolized kernel stack.`,
  `GET ${API}/api/checks to confirm the check had all its hooks, and look at lost events on the daxmon health dashboard: a violation right after a gap deserves suspicion.`,
  "The violation journal (daxmon's append-only NDJSON file) keeps the same records across restarts; attach the entries to any kernel bug report.",
  'dmesg -T around the violation time for WARN/BUG output from mm/memremap.c, mm/gup.c or fs/dax.c.',
];

export function violationRule(kind: ViolationKind): AlertRule {
  const g = KIND_GUIDES[kind];
  const dedicated = kind === 'teardown_with_live_folios';
  return {
    id: dedicated ? 'pgmap-teardown-live-folios' : `violation:${kind}`,
    group: 'daxmon-violations',
    alert: dedicated ? 'DaxmonPgmapTeardownWithLiveFolios' : 'DaxmonViolation',
    kind,
    // Each violation is a discrete, already de-duplicated kernel event: no `for`, fire at once.
    expr: severityFromViolation(
      counted('daxmon_violations_total', { kind }, EVENT_WINDOW, [...BY, 'kind', 'severity']),
    ),
    severity: null,
    labels: { invariant: g.id },
    summary: `${g.title} ({{ $labels.kind }}, ${g.id}) on {{ $labels.instance }}`,
    description: `daxmon on {{ $labels.instance }} reported a {{ $labels.kind }} violation (${g.id}) in the last ${EVENT_WINDOW}. ${g.meaning}`,
    runbook: runbook([...commonViolationSteps(kind), ...g.look]),
  };
}

/** Kinds this version does not know still alert, with the generic runbook. */
export const unknownKindRule: AlertRule = {
  id: 'violation:unknown-kind',
  group: 'daxmon-violations',
  alert: 'DaxmonViolation',
  expr: severityFromViolation(
    counted('daxmon_violations_total', { kind: notRe(oneOf(VIOLATION_KINDS)) }, EVENT_WINDOW, [
      ...BY,
      'kind',
      'severity',
    ]),
  ),
  severity: null,
  summary: 'daxmon violation {{ $labels.kind }} on {{ $labels.instance }}',
  description:
    'daxmon on {{ $labels.instance }} reported a {{ $labels.kind }} violation, a kind these alert rules do not describe yet (newer daxmon?). See docs/kernel-model.md §5 of that daxmon version.',
  runbook: runbook(commonViolationSteps()),
};
