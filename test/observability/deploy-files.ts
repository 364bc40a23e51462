// Writ's Prometheus and Grafana files (deploy/prometheus, deploy/grafana) as the tests read them:
// the metric names they mention, and each dashboard query as Prometheus would be asked it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RULES_DIR = join(ROOT, 'deploy', 'prometheus', 'rules');
export const RULES_FILE = join(RULES_DIR, 'writ.rules.yml');
export const DASHBOARDS_DIR = join(ROOT, 'deploy', 'grafana', 'dashboards');

/** Every file of the Prometheus and Grafana configuration, by path relative to the root. */
export function observabilityFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(path, readFileSync(join(ROOT, path), 'utf8'));
    }
  };
  walk(join('deploy', 'prometheus'));
  walk(join('deploy', 'grafana'));
  return files;
}

/** The Writ metric names a text mentions (`writ_...` series names), in order, without repeats. */
export function writMetricNamesIn(text: string): string[] {
  return [...new Set(text.match(/\bwrit_[a-z0-9_]+/g) ?? [])];
}

interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly { readonly title: string; readonly targets?: readonly { readonly expr?: string }[] }[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly query?: { readonly query?: string } | string }[] };
}

export interface DashboardQuery {
  readonly dashboard: string;
  readonly panel: string;
  /** As written in the dashboard (Grafana's variables in it). */
  readonly expr: string;
  /** As Prometheus is asked it: `$tenant` every tenant, `$__rate_interval` and `$__range` a short window. */
  readonly promql: string;
}

/** Grafana's variables replaced as an "All" selection and a short range would replace them. */
export function asPromql(expr: string, window = '30s'): string {
  return expr.replaceAll('$__rate_interval', window).replaceAll('$__range', window).replaceAll('$tenant', '.*');
}

/** Every query of every dashboard: each panel's targets, and each query variable's metric (label_values(metric, label)). */
export function dashboardQueries(): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const file of readdirSync(DASHBOARDS_DIR).filter((name) => name.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as Dashboard;
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr !== undefined) queries.push({ dashboard: dashboard.uid, panel: panel.title, expr: target.expr, promql: asPromql(target.expr) });
      }
    }
    for (const variable of dashboard.templating.list) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
      const metric = query === undefined ? undefined : /^label_values\(\s*([^,()]+)\s*,/.exec(query)?.[1];
      if (query !== undefined) queries.push({ dashboard: dashboard.uid, panel: `$${variable.name}`, expr: query, promql: asPromql(metric ?? query) });
    }
  }
  return queries;
}
