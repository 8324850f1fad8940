/** The shape of one alerting rule, before it is rendered to YAML. */
import type { ViolationKind } from '../metrics-contract.js';

export type Severity = 'critical' | 'warning';

export interface AlertRule {
  /** Unique per rule (several rules share the alertname DaxmonViolation, one per kind). */
  readonly id: string;
  readonly group: string;
  readonly alert: string;
  /** The violation kind a DaxmonViolation rule is about; unset for the catch-all and other alerts. */
  readonly kind?: ViolationKind;
  readonly expr: string;
  /** Omitted when the condition is itself an age or a count of discrete events: see each rule. */
  readonly for?: string;
  /** Fixed severity, or `null` when the expression derives it from the violation's own severity. */
  readonly severity: Severity | null;
  /** Further static labels. Violation rules carry `invariant` (V1–V11), for routing and to tell apart. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly summary: string;
  readonly description: string;
  readonly runbook: string;
}
