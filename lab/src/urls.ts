/**
 * What the lab prints once daxmon is up or ready: the live view's URL first (the page a developer
 * opens), then the raw endpoints, Prometheus when it runs, the console log and how to stop.
 */
export function urlLines(
  urls: { base: string; metrics: string },
  promUrl: string | undefined,
  consoleGlob: string,
): string[] {
  return [
    `  view:    ${urls.base} (live page map, violations, probes)`,
    `  metrics: ${urls.metrics}`,
    `  api:     ${urls.base}api/state`,
    ...(promUrl
      ? [
          `  prometheus: ${promUrl}/ (scrapes daxmon, alerts from dashboards/alerts.yml)`,
          `  alerts:     ${promUrl}/alerts`,
        ]
      : []),
    `  console: ${consoleGlob}`,
    '  Ctrl-C stops daxmon and the guest (twice: at once)',
  ];
}
