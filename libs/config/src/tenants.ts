/**
 * Which tenants one instance of a service serves (`WRIT_<SERVICE>_TENANTS`), with one meaning in
 * every service: a comma-separated list of entries, each a tenant id (`acme`) or a prefix ending
 * in `*` (`t-42-*` serves every tenant whose id starts with `t-42-`); `*` or unset serves all.
 * Events of other tenants are neither decided on nor remembered (tests on a shared broker run an
 * instance per tenant or per prefix).
 */
export interface TenantFilter {
  /** True when every tenant is served (unset, or `*`). */
  readonly all: boolean;
  serves(tenant: string): boolean;
  /** The entries as given, for logs ('*' when all). */
  readonly text: string;
}

const ENTRY = /^[A-Za-z0-9._:@-]*\*?$/;

export const ALL_TENANTS: TenantFilter = { all: true, serves: () => true, text: '*' };

/** Parses a tenant list; throws a plain Error naming the bad entry and the rule. */
export function parseTenantFilter(raw: string | undefined): TenantFilter {
  const entries = (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0 || entries.includes('*')) return ALL_TENANTS;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of entries) {
    if (!ENTRY.test(entry)) {
      throw new Error(`entry "${entry}" must be a tenant id or a prefix ending in "*" (letters, digits, ".", "_", ":", "@", "-")`);
    }
    if (entry.endsWith('*')) prefixes.push(entry.slice(0, -1));
    else exact.add(entry);
  }
  return {
    all: false,
    serves: (tenant) => exact.has(tenant) || prefixes.some((prefix) => tenant.startsWith(prefix)),
    text: entries.join(','),
  };
}
