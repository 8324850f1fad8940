/** Field options shared by panels: thresholds, value mappings and the field-config envelope. */
import { MappingType, ThresholdsMode } from '@grafana/schema';
import type { FieldConfigSource, Threshold, ThresholdsConfig, ValueMapping } from '@grafana/schema';
import type { Unit } from './spec.js';

/** Green below `badFrom`, red from it on: for counts where anything above zero needs a look. */
export function badAbove(badFrom: number, warnFrom?: number): ThresholdsConfig {
  const steps: Threshold[] = [{ color: 'green', value: null }];
  if (warnFrom !== undefined) steps.push({ color: 'orange', value: warnFrom });
  steps.push({ color: 'red', value: badFrom });
  return { mode: ThresholdsMode.Absolute, steps };
}

/** Red below `warnFrom` (or `goodFrom`), orange between, green from `goodFrom` on: for 0–1 shares and up. */
export function goodFrom(goodFrom: number, warnFrom?: number): ThresholdsConfig {
  const steps: Threshold[] = [{ color: 'red', value: null }];
  if (warnFrom !== undefined) steps.push({ color: 'orange', value: warnFrom });
  steps.push({ color: 'green', value: goodFrom });
  return { mode: ThresholdsMode.Absolute, steps };
}

export const NEUTRAL: ThresholdsConfig = {
  mode: ThresholdsMode.Absolute,
  steps: [{ color: 'green', value: null }],
};

/** 1 = good, 0 = bad, as for up, backend_up, probe_attached and check_active. */
export function booleanMapping(good: string, bad: string): ValueMapping[] {
  return [
    {
      type: MappingType.ValueToText,
      options: {
        '0': { text: bad, color: 'red', index: 0 },
        '1': { text: good, color: 'green', index: 1 },
      },
    },
  ];
}

export function fieldConfig(
  unit: Unit,
  custom: Record<string, unknown>,
  extra: Omit<FieldConfigSource['defaults'], 'unit' | 'custom'> = {},
): FieldConfigSource {
  return { defaults: { unit, ...extra, custom }, overrides: [] };
}
