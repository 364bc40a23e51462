import { WritError } from '@writ/errors';
import { parseTenantFilter } from './tenants.ts';
import type { TenantFilter } from './tenants.ts';

/** How one environment variable is read: a parser that throws a plain message naming the rule. */
export interface EnvVar<T> {
  readonly describe: string;
  parse(raw: string | undefined): T;
}

export type ConfigOf<S> = { readonly [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never };

class RuleBroken extends Error {}

function present(raw: string | undefined): string | undefined {
  const trimmed = raw?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

function required<T>(describe: string, parse: (value: string) => T, fallback?: T): EnvVar<T> {
  return {
    describe,
    parse(raw) {
      const value = present(raw);
      if (value === undefined) {
        if (fallback !== undefined) return fallback;
        throw new RuleBroken(`is required (${describe})`);
      }
      return parse(value);
    },
  };
}

function parseInteger(value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value)) throw new RuleBroken(`must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new RuleBroken(`must be between ${min} and ${max}, got ${n}`);
  return n;
}

function parseDecimal(value: string, min: number, max: number): number {
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(value)) throw new RuleBroken(`must be a decimal number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new RuleBroken(`must be between ${min} and ${max}, got ${n}`);
  return n;
}

const HOST_PORT = /^(?<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(?<port>\d{1,5})$/;

export const env = {
  string(options: { default?: string } = {}): EnvVar<string> {
    return required('a non-empty string', (v) => v, options.default);
  },
  /** A name for Kafka ids and file names: 1-64 of letters, digits, dot, underscore and hyphen. */
  name(options: { default?: string } = {}): EnvVar<string> {
    return required(
      '1-64 letters, digits, ".", "_" or "-"',
      (v) => {
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(v)) throw new RuleBroken(`must be 1-64 letters, digits, ".", "_" or "-", got "${v}"`);
        return v;
      },
      options.default,
    );
  },
  optionalString(): EnvVar<string | undefined> {
    return { describe: 'an optional string', parse: (raw) => present(raw) };
  },
  int(options: { default?: number; min?: number; max?: number } = {}): EnvVar<number> {
    const min = options.min ?? Number.MIN_SAFE_INTEGER;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    return required(`a whole number from ${min} to ${max}`, (v) => parseInteger(v, min, max), options.default);
  },
  /** A decimal number (e.g. a threshold: 0.1), without exponent. */
  number(options: { default?: number; min?: number; max?: number } = {}): EnvVar<number> {
    const min = options.min ?? -Number.MAX_VALUE;
    const max = options.max ?? Number.MAX_VALUE;
    return required(`a decimal number from ${min} to ${max}`, (v) => parseDecimal(v, min, max), options.default);
  },
  port(options: { default?: number } = {}): EnvVar<number> {
    return required('a TCP port from 1 to 65535', (v) => parseInteger(v, 1, 65535), options.default);
  },
  /** A TCP port from 1 to 65535, or undefined when unset (a listener that is off unless asked for). */
  optionalPort(): EnvVar<number | undefined> {
    return {
      describe: 'an optional TCP port from 1 to 65535',
      parse(raw) {
        const value = present(raw);
        return value === undefined ? undefined : parseInteger(value, 1, 65535);
      },
    };
  },
  bool(options: { default?: boolean } = {}): EnvVar<boolean> {
    return required(
      'true or false',
      (v) => {
        if (/^(true|1|yes)$/i.test(v)) return true;
        if (/^(false|0|no)$/i.test(v)) return false;
        throw new RuleBroken(`must be true or false, got "${v}"`);
      },
      options.default,
    );
  },
  oneOf<const T extends string>(values: readonly T[], options: { default?: T } = {}): EnvVar<T> {
    return required(
      `one of ${values.join(', ')}`,
      (v) => {
        if ((values as readonly string[]).includes(v)) return v as T;
        throw new RuleBroken(`must be one of ${values.join(', ')}, got "${v}"`);
      },
      options.default,
    );
  },
  /** A comma-separated list of host:port pairs, such as Kafka bootstrap servers. */
  hostPorts(options: { default?: string } = {}): EnvVar<string[]> {
    const parse = (v: string): string[] =>
      v.split(',').map((entry) => {
        const item = entry.trim();
        const match = HOST_PORT.exec(item);
        const port = Number(match?.groups?.['port']);
        if (!match || port < 1 || port > 65535) {
          throw new RuleBroken(`must be a comma-separated list of host:port, got "${item}"`);
        }
        return item;
      });
    return required('comma-separated host:port list', parse, options.default === undefined ? undefined : parse(options.default));
  },
  /** Which tenants this instance serves (see TenantFilter): ids and prefixes ending in `*`; unset: all. */
  tenants(): EnvVar<TenantFilter> {
    return {
      describe: 'comma-separated tenant ids or prefixes ending in "*"',
      parse(raw) {
        try {
          return parseTenantFilter(present(raw));
        } catch (error) {
          throw new RuleBroken((error as Error).message);
        }
      },
    };
  },
  optionalUrl(protocols: readonly string[] = ['http:', 'https:']): EnvVar<URL | undefined> {
    return {
      describe: `an optional ${protocols.join('/')} URL`,
      parse(raw) {
        const value = present(raw);
        if (value === undefined) return undefined;
        let url: URL;
        try {
          url = new URL(value);
        } catch {
          throw new RuleBroken(`must be a URL, got "${value}"`);
        }
        if (!protocols.includes(url.protocol)) {
          throw new RuleBroken(`must use ${protocols.join(' or ')}, got "${url.protocol}"`);
        }
        return url;
      },
    };
  },
} as const;

/**
 * Reads and validates every variable of `spec` at once. On failure it throws one CONFIG_INVALID
 * error whose message lists each bad variable and its rule, so one boot shows every mistake; a
 * variable set under a name in `renamed` (retired name → current name, when the spec reads the
 * current one) is one of them.
 */
export function loadConfig<S extends Record<string, EnvVar<unknown>>>(
  spec: S,
  source: Readonly<Record<string, string | undefined>> = process.env,
  options: { readonly renamed?: Readonly<Record<string, string>> } = {},
): ConfigOf<S> {
  const values: Record<string, unknown> = {};
  const problems: { variable: string; rule: string }[] = [];
  // A variable set under a retired name would be ignored in silence: refuse it, naming the new one.
  for (const [retired, current] of Object.entries(options.renamed ?? {})) {
    if (source[retired] !== undefined && current in spec) problems.push({ variable: retired, rule: `is no longer read: it was renamed to ${current}` });
  }
  for (const [variable, reader] of Object.entries(spec)) {
    try {
      values[variable] = reader.parse(source[variable]);
    } catch (error) {
      if (!(error instanceof RuleBroken)) throw error;
      problems.push({ variable, rule: error.message });
    }
  }
  const [first] = problems;
  if (first !== undefined) {
    const lines = problems.map((p) => `  ${p.variable} ${p.rule}`).join('\n');
    throw new WritError('CONFIG_INVALID', `invalid configuration:\n${lines}`, {
      field: first.variable,
      rule: first.rule,
      details: { problems },
    });
  }
  return values as ConfigOf<S>;
}
