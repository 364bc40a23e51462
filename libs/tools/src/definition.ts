/** What a tool does to the world; policies read it (read tools are always allowed, write tools are governed). */
export type ToolEffect = 'read' | 'write' | 'destructive';
export type ToolRisk = 'low' | 'medium' | 'high';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A JSON Schema (2020-12) object; `"x-writ-sensitive": true` on a node marks its value as sensitive. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface ToolCost {
  /** Cost of one call in micro-units (1/1,000,000) of `currency`; the planner reserves it, the executor reports it. */
  readonly micros: number;
  /** ISO 4217 code, e.g. "USD". */
  readonly currency: string;
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

/** Where the executor reads the tool's bearer token: an environment variable or a file. Never an event. */
export type ToolCredential = { readonly env: string } | { readonly file: string };

/** An optional read-back after a successful call; a 2xx answer means the side effect is verified. */
export interface ToolVerification {
  readonly method: 'GET';
  /** Same placeholders as the endpoint, plus `{result.<path>}` from the call's result. */
  readonly url: string;
}

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
