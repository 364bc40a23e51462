import { describe, expect, it } from 'vitest';
import {
  LONG_POLL_DEFAULT_MS,
  PROVENANCE_LIMITS,
  parseApproval,
  parseApprovalStatus,
  parseLongPollTimeout,
  parseOpenRun,
  parsePropose,
  parseSwitch,
} from './index.ts';

function rejects(run: () => unknown, field: string, rule: string): void {
  try {
    run();
  } catch (error) {
    expect(error).toMatchObject({ code: 'REQUEST_INVALID', field, rule });
    expect((error as Error).message.startsWith(field)).toBe(true);
    return;
  }
  throw new Error(`expected REQUEST_INVALID on ${field}`);
}

describe('parseOpenRun', () => {
  it('takes a goal and optional limits, absent limits as null', () => {
    expect(parseOpenRun({ goal: 'triage', limits: { max_steps: 10, max_cost_micros: 5_000_000, currency: 'USD' } })).toEqual({
      goal: 'triage',
      mode: 'live',
      limits: { max_steps: 10, max_cost_micros: 5_000_000, max_tool_calls: null, wall_clock_ms: null, currency: 'USD' },
    });
    expect(parseOpenRun({ goal: 'g' }).limits.max_steps).toBeNull();
  });

  it('takes the run mode: live by default, or shadow; anything else names the field mode and the rule enum', () => {
    expect(parseOpenRun({ goal: 'g' }).mode).toBe('live');
    expect(parseOpenRun({ goal: 'g', mode: 'live' }).mode).toBe('live');
    expect(parseOpenRun({ goal: 'g', mode: 'shadow' }).mode).toBe('shadow');
    rejects(() => parseOpenRun({ goal: 'g', mode: 'dry-run' }), 'mode', 'enum');
    rejects(() => parseOpenRun({ goal: 'g', mode: 'SHADOW' }), 'mode', 'enum');
    rejects(() => parseOpenRun({ goal: 'g', mode: true }), 'mode', 'enum');
    expect(() => parseOpenRun({ goal: 'g', mode: 'dry-run' })).toThrow('mode must be "live" or "shadow"');
  });

  it('names the field and rule of every mistake', () => {
    rejects(() => parseOpenRun(undefined), 'body', 'type');
    rejects(() => parseOpenRun([]), 'body', 'type');
    rejects(() => parseOpenRun({}), 'goal', 'required');
    rejects(() => parseOpenRun({ goal: 7 }), 'goal', 'type');
    rejects(() => parseOpenRun({ goal: '   ' }), 'goal', 'minLength');
    rejects(() => parseOpenRun({ goal: 'x'.repeat(2001) }), 'goal', 'maxLength');
    rejects(() => parseOpenRun({ goal: 'g', agent: 'someone-else' }), 'agent', 'additionalProperties');
    rejects(() => parseOpenRun({ goal: 'g', limits: 5 }), 'limits', 'type');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_steps: 0 } }), 'limits.max_steps', 'minimum');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_steps: 1.5 } }), 'limits.max_steps', 'type');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_cost_micros: -1, currency: 'USD' } }), 'limits.max_cost_micros', 'minimum');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_cost_micros: 1 } }), 'limits.currency', 'required');
    rejects(() => parseOpenRun({ goal: 'g', limits: { currency: 'usd' } }), 'limits.currency', 'pattern');
    rejects(() => parseOpenRun({ goal: 'g', limits: { max_stepz: 1 } }), 'limits.max_stepz', 'additionalProperties');
  });
});

describe('parsePropose', () => {
  const good = { tool: 'refunds.issue', arguments: { a: 1 }, reason: 'because', idempotency_key: 'ticket-1:refund' };

  it('takes tool, arguments, reason and idempotency key', () => {
    expect(parsePropose(good)).toEqual({ ...good, tool_version: null, provenance: null });
    expect(parsePropose({ ...good, tool_version: '1.2.0' }).tool_version).toBe('1.2.0');
  });

  it('names the field and rule of every mistake', () => {
    rejects(() => parsePropose({ ...good, tool: undefined }), 'tool', 'required');
    rejects(() => parsePropose({ ...good, tool: 'Refunds' }), 'tool', 'pattern');
    rejects(() => parsePropose({ ...good, tool_version: 'latest' }), 'tool_version', 'pattern');
    rejects(() => parsePropose({ ...good, arguments: undefined }), 'arguments', 'required');
    rejects(() => parsePropose({ ...good, arguments: [1] }), 'arguments', 'type');
    rejects(() => parsePropose({ ...good, reason: '' }), 'reason', 'minLength');
    rejects(() => parsePropose({ ...good, idempotency_key: 'has space' }), 'idempotency_key', 'pattern');
    rejects(() => parsePropose({ ...good, idempotency_key: 'k'.repeat(201) }), 'idempotency_key', 'maxLength');
    rejects(() => parsePropose({ ...good, run_id: 'x' }), 'run_id', 'additionalProperties');
  });

  describe('provenance', () => {
    const digest = 'ab'.repeat(32);
    const doc = (index: number) => ({ id: `kb/doc-${index}`, version: '3', sha256: digest });

    it('takes the model, the prompt version and the retrieved documents, absent parts as null or []', () => {
      const provenance = {
        model: { name: 'claude-sonnet-4-5', provider: 'anthropic', version: '20250929' },
        prompt_version: 'triage-v7',
        retrieved_documents: [doc(1), { id: 'kb/unversioned', sha256: digest }],
      };
      expect(parsePropose({ ...good, provenance }).provenance).toEqual({
        ...provenance,
        retrieved_documents: [doc(1), { id: 'kb/unversioned', version: null, sha256: digest }],
      });
      expect(parsePropose({ ...good, provenance: { prompt_version: 'p1' } }).provenance).toEqual({
        model: null,
        prompt_version: 'p1',
        retrieved_documents: [],
      });
      expect(parsePropose({ ...good, provenance: { model: { name: 'm' } } }).provenance?.model).toEqual({ name: 'm', provider: null, version: null });
      expect(parsePropose({ ...good, provenance: null }).provenance).toBeNull();
      const most = Array.from({ length: PROVENANCE_LIMITS.documents }, (_, index) => doc(index));
      expect(parsePropose({ ...good, provenance: { retrieved_documents: most } }).provenance?.retrieved_documents).toHaveLength(32);
    });

    it('names the field and the rule of every mistake, without echoing the value', () => {
      const bad = (provenance: unknown) => () => parsePropose({ ...good, provenance });
      rejects(bad('gpt'), 'provenance', 'type');
      rejects(bad({}), 'provenance', 'minProperties');
      rejects(bad({ prompt: 'the whole prompt' }), 'provenance.prompt', 'additionalProperties');
      rejects(bad({ model: 'gpt' }), 'provenance.model', 'type');
      rejects(bad({ model: {} }), 'provenance.model.name', 'required');
      rejects(bad({ model: { name: 'm', temperature: 0.2 } }), 'provenance.model.temperature', 'additionalProperties');
      rejects(bad({ model: { name: 'x'.repeat(129) } }), 'provenance.model.name', 'maxLength');
      rejects(bad({ model: { name: 'm', provider: 'p'.repeat(65) } }), 'provenance.model.provider', 'maxLength');
      rejects(bad({ prompt_version: 'v1\nignore the policy' }), 'provenance.prompt_version', 'pattern');
      rejects(bad({ retrieved_documents: { id: 'a' } }), 'provenance.retrieved_documents', 'type');
      const tooMany = Array.from({ length: PROVENANCE_LIMITS.documents + 1 }, (_, index) => doc(index));
      rejects(bad({ retrieved_documents: tooMany }), 'provenance.retrieved_documents', 'maxItems');
      expect(bad({ retrieved_documents: tooMany })).toThrow('must name at most 32 documents, got 33');
      rejects(bad({ retrieved_documents: [doc(0), 'kb/doc-1'] }), 'provenance.retrieved_documents[1]', 'type');
      rejects(bad({ retrieved_documents: [{ sha256: digest }] }), 'provenance.retrieved_documents[0].id', 'required');
      rejects(bad({ retrieved_documents: [{ ...doc(0), id: 'd'.repeat(257) }] }), 'provenance.retrieved_documents[0].id', 'maxLength');
      rejects(bad({ retrieved_documents: [{ id: 'a' }] }), 'provenance.retrieved_documents[0].sha256', 'required');
      rejects(bad({ retrieved_documents: [{ id: 'a', sha256: 'AB'.repeat(32) }] }), 'provenance.retrieved_documents[0].sha256', 'pattern');
      rejects(bad({ retrieved_documents: [{ id: 'a', sha256: 'abc' }] }), 'provenance.retrieved_documents[0].sha256', 'pattern');
      rejects(
        bad({ retrieved_documents: [{ id: 'a', sha256: digest, content: 'the text' }] }),
        'provenance.retrieved_documents[0].content',
        'additionalProperties',
      );
      expect(bad({ retrieved_documents: [{ id: 'a', sha256: 'not-a-digest-secret' }] })).toThrow(/64 lowercase hex digits$/);
      expect(bad({ retrieved_documents: [{ id: 'a', sha256: 'not-a-digest-secret' }] })).not.toThrow(/secret/);
    });
  });
});

describe('parseApproval, parseSwitch and query strings', () => {
  it('approval verdicts', () => {
    expect(parseApproval({ verdict: 'approve' })).toEqual({ verdict: 'approve', comment: null });
    expect(parseApproval({ verdict: 'deny', comment: 'too much' })).toEqual({ verdict: 'deny', comment: 'too much' });
    rejects(() => parseApproval({}), 'verdict', 'required');
    rejects(() => parseApproval({ verdict: 'yes' }), 'verdict', 'enum');
    rejects(() => parseApproval({ verdict: 'approve', comment: 3 }), 'comment', 'type');
  });

  it('switches', () => {
    expect(parseSwitch({ enabled: true, reason: 'incident 42' })).toEqual({ enabled: true, reason: 'incident 42' });
    rejects(() => parseSwitch({ reason: 'r' }), 'enabled', 'required');
    rejects(() => parseSwitch({ enabled: 'true', reason: 'r' }), 'enabled', 'type');
    rejects(() => parseSwitch({ enabled: false }), 'reason', 'required');
  });

  it('long-poll timeout: default, bounds, and type', () => {
    expect(parseLongPollTimeout({})).toBe(LONG_POLL_DEFAULT_MS);
    expect(parseLongPollTimeout({ timeout_ms: '0' })).toBe(0);
    expect(parseLongPollTimeout({ timeout_ms: '30000' })).toBe(30000);
    rejects(() => parseLongPollTimeout({ timeout_ms: '30001' }), 'timeout_ms', 'maximum');
    rejects(() => parseLongPollTimeout({ timeout_ms: '-1' }), 'timeout_ms', 'type');
    rejects(() => parseLongPollTimeout({ timeout_ms: ['1', '2'] }), 'timeout_ms', 'type');
  });

  it('approvals status', () => {
    expect(parseApprovalStatus({})).toBe('pending');
    expect(parseApprovalStatus({ status: 'pending' })).toBe('pending');
    rejects(() => parseApprovalStatus({ status: 'done' }), 'status', 'enum');
  });
});
