// An in-memory policy service implementing the `/v1/policy-sets` contract the CLI is written
// against, for the CLI's unit specs only, as an injected fetch (the int tier runs the CLI against
// the real policy service: test/services/policy-cli.int.spec.ts). It checks keys, previous_hash and
// hashes like the real service, but does not compile policies (modes come from @mode annotations);
// failNext() makes it refuse the next write the way the service would.
// (The .spec.ts suffix keeps it out of the build; it holds no tests itself.)
import { policySetHash } from '@writ/policy-engine';
import type { Fetch, PolicySetDetail, PolicySetSummary, PublishBody, RollbackBody } from './policy.ts';

export const ADMIN_KEY = 'key-admin-ada';
export const SERVICE_KEY = 'key-service-policy';
const AUTHORS: Readonly<Record<string, { name: string; admin: boolean }>> = {
  [ADMIN_KEY]: { name: 'ada', admin: true },
  [SERVICE_KEY]: { name: 'svc-gateway', admin: false },
};
export const STREAM = 'default';
const T0 = Date.parse('2027-01-04T09:00:00.000Z');

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

const fail = (status: number, code: string, message: string, extra: Record<string, unknown> = {}): Answer => ({
  status,
  body: { error: { code, message, ...extra } },
});

function modesOf(policies: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(policies).map(([id, text]) => [id, /@mode\(\s*"([^"]*)"\s*\)/.exec(text)?.[1] ?? 'enforce']));
}

export class PolicyServiceDouble {
  readonly requests: RecordedRequest[] = [];
  readonly publications: PolicySetDetail[] = [];
  #failNext: Answer | undefined;
  /** Runs before the next write is handled (another admin publishing meanwhile). */
  beforeNextWrite: (() => void) | undefined;

  get head(): PolicySetDetail | undefined {
    return this.publications.at(-1);
  }

  /** Refuse the next write with this answer. */
  failNext(status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
    this.#failNext = fail(status, code, message, extra);
  }

  /** Appends a publication directly (what another admin, or the service at boot, did). */
  append(
    origin: PolicySetSummary['origin'],
    author: string,
    message: string,
    content: Pick<PolicySetDetail, 'schema' | 'policies_text' | 'cases'> & { version?: string },
  ): PolicySetDetail {
    const hash = policySetHash(content.schema, content.policies_text);
    const sequence = this.publications.length + 1;
    const detail: PolicySetDetail = {
      stream: STREAM,
      sequence,
      policy_set_hash: hash,
      previous_hash: this.head?.policy_set_hash ?? null,
      version: content.version ?? `sha256:${hash.slice(0, 12)}`,
      origin,
      author,
      message,
      published_at: new Date(T0 + sequence * 60_000).toISOString(),
      policies: Object.keys(content.policies_text).length,
      modes: modesOf(content.policies_text),
      schema: content.schema,
      policies_text: { ...content.policies_text },
      cases: [...content.cases],
    };
    this.publications.push(detail);
    return detail;
  }

  handle(method: string, path: string, authorization: string | undefined, bodyText: string | undefined): Answer {
    let body: unknown;
    try {
      body = bodyText === undefined || bodyText === '' ? undefined : JSON.parse(bodyText);
    } catch {
      return fail(400, 'REQUEST_INVALID', 'the body is not JSON');
    }
    this.requests.push({ method, path, authorization, body });
    const key = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const author = key === undefined ? undefined : AUTHORS[key];
    if (author === undefined) return fail(401, 'UNAUTHENTICATED', key === undefined ? 'send Authorization: Bearer <api key>' : 'unknown API key');
    const summary = (d: PolicySetDetail): PolicySetSummary => {
      const { schema: _schema, policies_text: _texts, cases: _cases, ...rest } = d;
      return rest;
    };
    if (method === 'GET' && path === '/v1/policy-sets') {
      return { status: 200, body: { stream: STREAM, current: this.head === undefined ? null : summary(this.head), history: this.publications.map(summary) } };
    }
    const one = /^\/v1\/policy-sets\/([0-9a-f]{64})$/.exec(path);
    if (method === 'GET' && one !== null) {
      const found = this.publications.findLast((p) => p.policy_set_hash === one[1]);
      return found === undefined ? fail(404, 'NOT_FOUND', `no policy set ${one[1]}`) : { status: 200, body: found };
    }
    if (method !== 'POST' || (path !== '/v1/policy-sets' && path !== '/v1/policy-sets/rollback')) return fail(404, 'NOT_FOUND', `no door ${method} ${path}`);
    if (!author.admin) return fail(403, 'FORBIDDEN', 'publishing policy sets takes a platform admin');
    this.beforeNextWrite?.();
    this.beforeNextWrite = undefined;
    const refusal = this.#failNext;
    this.#failNext = undefined;
    if (refusal !== undefined) return refusal;
    const request = body as Partial<PublishBody & RollbackBody> | undefined;
    if (typeof request?.message !== 'string' || request.message === '') return fail(400, 'REQUEST_INVALID', 'message is required', { field: 'message' });
    if (request.previous_hash === undefined) return fail(400, 'REQUEST_INVALID', 'previous_hash is required', { field: 'previous_hash' });
    const current = this.head?.policy_set_hash ?? null;
    if (request.previous_hash !== current) {
      return fail(409, 'POLICY_SET_CONFLICT', `the head is ${current ?? 'empty'}, not ${request.previous_hash ?? 'empty'}`, {
        details: { current_hash: current },
      });
    }
    if (path === '/v1/policy-sets/rollback') {
      const target = this.publications.findLast((p) => p.policy_set_hash === request.to);
      if (target === undefined) return fail(404, 'NOT_FOUND', `no policy set ${String(request.to)}`);
      return { status: 201, body: summary(this.append('rollback', author.name, request.message, target)) };
    }
    if (typeof request.schema !== 'string' || typeof request.policies !== 'object' || !Array.isArray(request.cases)) {
      return fail(400, 'REQUEST_INVALID', 'schema, policies and cases are required');
    }
    const published = this.append('publish', author.name, request.message, {
      schema: request.schema,
      policies_text: request.policies ?? {},
      cases: request.cases,
      ...(request.version === undefined ? {} : { version: request.version }),
    });
    const uncovered = Object.keys(published.policies_text)
      .filter((id) => !published.cases.some((c) => c.text.includes(`"${id}"`)))
      .sort();
    return {
      status: 201,
      body: { ...summary(published), cases: { passed: published.cases.length, total: published.cases.length }, uncovered_policies: uncovered },
    };
  }

  /** The double as the CLI's injected fetch. */
  readonly fetch: Fetch = async (url, init) => {
    const { pathname } = new URL(url);
    const headers = new Headers(init?.headers);
    const answer = this.handle(
      init?.method ?? 'GET',
      pathname,
      headers.get('authorization') ?? undefined,
      typeof init?.body === 'string' ? init.body : undefined,
    );
    return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } });
  };
}

/** Captured CLI output. */
export function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err, text: () => [...out, ...err].join('\n') };
}
