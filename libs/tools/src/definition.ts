/** What a tool does to the world; policies read it (read tools are always allowed, write tools are governed). */
export type ToolEffect = 'read' | 'write' | 'destructive';
export type ToolRisk = 'low' | 'medium' | 'high';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A JSON Schema (2020-12) object; `"x-writ-sensitive": true` on a node marks its value as sensitive. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface ToolCost {
  /** Expected cost of one call in micro-units (1/1,000,000) of `currency`: what a call costs when its result reports none. */
  readonly micros: number;
  /**
   * The most one call can cost (default `micros`): what the accountant reserves, so a hard cap
   * holds whatever the call costs. A call that reports more breaks the tool's contract: it is
   * settled at what it reported, as an overrun (BudgetSettled.overrun_micros), and logged.
   */
  readonly max_micros?: number;
  /** Dotted path into the result whose value (a whole number of micro-units) is the call's actual cost. Requires max_micros. */
  readonly actual?: string;
  /** ISO 4217 code, e.g. "USD". */
  readonly currency: string;
  /**
   * A metered tool (a model): priced per token. Each call is reserved for the tokens its arguments
   * allow at most and settled at the tokens its result reports (docs/model-proxy.md). Requires max_micros,
   * charged when the result reports no usage.
   */
  readonly tokens?: ToolTokenPrice;
}

/** Prices per 1,000,000 tokens and where a call's most and used tokens are read. */
export interface ToolTokenPrice {
  /** Micro-units of the tool's currency per 1,000,000 input (prompt) tokens. */
  readonly input_micros_per_million: number;
  /** Micro-units of the tool's currency per 1,000,000 output (completion) tokens. */
  readonly output_micros_per_million: number;
  /** Dotted argument paths of the most input and output tokens the call may use: what is reserved. */
  readonly reserve: { readonly input: string; readonly output: string };
  /** Dotted result paths of the input and output tokens the call used: what is settled. */
  readonly usage: { readonly input: string; readonly output: string };
}

/** The price of `input` and `output` tokens, rounded up to a whole micro-unit. */
export function tokenCostMicros(price: ToolTokenPrice, input: number, output: number): number {
  return Math.ceil((input * price.input_micros_per_million + output * price.output_micros_per_million) / 1_000_000);
}

function countAt(value: unknown, path: string): number | undefined {
  let node: unknown = value;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === 'number' && Number.isSafeInteger(node) && node >= 0 ? node : undefined;
}

/** The tokens at a pair of paths (both whole and non-negative), or undefined. */
export function tokensAt(value: unknown, paths: { readonly input: string; readonly output: string }): { input: number; output: number } | undefined {
  const input = countAt(value, paths.input);
  const output = countAt(value, paths.output);
  return input === undefined || output === undefined ? undefined : { input, output };
}

export interface ToolRetry {
  /** Attempts in all, the first included (1 = no retry). */
  readonly max_attempts: number;
  readonly initial_backoff_ms: number;
  readonly max_backoff_ms: number;
}

export interface ToolEndpoint {
  readonly method: HttpMethod;
  /**
   * `${VAR}` or `${VAR:-default}` is read from the environment; `{arg}` is replaced by the
   * URI-encoded value of that (required, scalar) argument. GET and DELETE send the other scalar
   * arguments as the query string; POST, PUT and PATCH send all arguments as a JSON body.
   */
  readonly url: string;
}

/**
 * The bearer token the executor sends. `mint`: a token of its own for each action (a JWT signed by
 * the executor, see action-token.ts), for the tool's `audience`. `env` / `file`: a static token
 * read from an environment variable or a file, the declared fallback for a tool that cannot verify
 * minted tokens. Never an event.
 */
export type ToolCredential = { readonly env: string } | { readonly file: string } | { readonly mint: ToolCredentialMint };

export interface ToolCredentialMint {
  /** The token's `aud`: the name the tool knows itself by (it refuses tokens for anyone else). */
  readonly audience: string;
}

/** Whether the executor mints a per-action token for this tool (false: a static token, or none). */
export function mintsCredential(tool: Pick<ToolDefinition, 'credential'>): tool is { readonly credential: { readonly mint: ToolCredentialMint } } {
  return tool.credential !== undefined && 'mint' in tool.credential;
}

/** An optional read-back after a successful call: 2xx confirms the side effect, 404/410 refutes it (outcome unknown), anything else leaves it unverified. */
export interface ToolVerification {
  readonly method: 'GET';
  /** Same placeholders as the endpoint, plus `{result.<path>}` from the call's result. */
  readonly url: string;
}

/**
 * Where one argument may point (a tool's `destinations`, keyed by the argument's dotted path): an
 * email address whose domain is listed, an http(s) URL whose host (and port) is listed, or one of
 * a list of plain values. A host entry is `name`, `*.name` (any subdomain, not `name` itself), an
 * IP address, each with an optional `:port` (without one, only the scheme's default port).
 * See destinations.ts and tools/README.md ("Destinations").
 */
export type ToolDestination =
  | { readonly email_domain: readonly string[] }
  | { readonly url_host: readonly string[]; /** Default ["https"]. */ readonly schemes?: readonly ('https' | 'http')[] }
  | { readonly values: readonly string[] };

/** One version of one tool, as declared in a registry file (`tools/<name>@<version>.json`). */
export interface ToolDefinition {
  /** Dotted lower-case name, e.g. "refunds.issue"; policies refer to it as Writ::Tool::"<name>". */
  readonly name: string;
  /** major.minor.patch */
  readonly version: string;
  readonly description: string;
  readonly effect: ToolEffect;
  readonly risk: ToolRisk;
  /** JSON Schema (2020-12) of the arguments: an object schema. */
  readonly arguments: JsonSchema;
  /** Optional JSON Schema of the result, to mark sensitive result fields (it is not enforced). */
  readonly result?: JsonSchema;
  readonly cost: ToolCost;
  readonly timeout_ms: number;
  readonly retry: ToolRetry;
  /** The tool honours an `Idempotency-Key` header: the same key never causes a second side effect. */
  readonly idempotent: boolean;
  readonly endpoint: ToolEndpoint;
  readonly credential?: ToolCredential;
  /** Dotted paths into the result whose values name the side effects (e.g. "refund.id"). */
  readonly side_effect_refs?: readonly string[];
  readonly verify?: ToolVerification;
  /** Allowlists of the arguments that name where a call sends something, by dotted argument path ("to", "delivery.url"). */
  readonly destinations?: Readonly<Record<string, ToolDestination>>;
}

/**
 * What a call of the tool is reserved for: its declared maximum; for a metered tool given the
 * call's arguments, the price of the most tokens they allow (never above the declared maximum).
 */
export function reservedCostOf(tool: Pick<ToolDefinition, 'cost'>, args?: unknown): number {
  const max = tool.cost.max_micros ?? tool.cost.micros;
  const tokens = tool.cost.tokens;
  if (tokens === undefined || args === undefined) return max;
  const most = tokensAt(args, tokens.reserve);
  return most === undefined ? max : Math.min(max, tokenCostMicros(tokens, most.input, most.output));
}

/** The version order of "major.minor.patch" strings (numeric per part). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Whether a tool may change the world (safe mode refuses these). */
export function hasSideEffects(tool: Pick<ToolDefinition, 'effect'>): boolean {
  return tool.effect !== 'read';
}
