/** Every dashboard daxmon ships, in the order the docs list them. */
import type { DashboardSpec } from '../grafana/spec.js';
import { health } from './health.js';
import { overview } from './overview.js';
import { pgmap } from './pgmap.js';

export const DASHBOARDS: readonly DashboardSpec[] = [overview, pgmap, health];
