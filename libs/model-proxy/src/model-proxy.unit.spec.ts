import { describe, expect, it } from 'vitest';
import { actualCostOf, reservedCostOf } from '@writ/tools';
import { parseModelCatalogue } from './catalogue.ts';
import { parseChatRequest, proposalArguments, upstreamDigest } from './chat-request.ts';
import { SseSplitter } from './model-call.ts';
import { modelTargetOf, modelToolDefinition } from './tools.ts';

const file = {
  providers: { p: { base_url: 'http://127.0.0.1:9/v1/', credential: { env: 'P_KEY' } } },
  models: {
    big: {
      provider: 'p',
      upstream_model: 'big-2024',
      tier: 'large',
      currency: 'USD',
      input_micros_per_million: 2_000_000,
      output_micros_per_million: 8_000_000,
      context_tokens: 1_000,
      max_output_tokens: 500,
      degrade_to: 'small.v1',
    },
    'small.v1': {
      provider: 'p',
      upstream_model: 'small',
      tier: 'small',
      currency: 'USD',
      input_micros_per_million: 100_000,
      output_micros_per_million: 400_000,
      context_tokens: 1_000,
      max_output_tokens: 200,
    },
  },
};
const catalogue = parseModelCatalogue(file);
const messages = [{ role: 'user', content: 'hello' }];

describe('the models file', () => {
  it('names the field and the rule of a bad entry', () => {
    const broken = (patch: (copy: typeof file) => void): unknown => {
      const copy = structuredClone(file);
      patch(copy);
      try {
        parseModelCatalogue(copy);
      } catch (error) {
        return { field: (error as { field?: string }).field, rule: (error as { rule?: string }).rule };
      }
      return 'accepted';
    };
    expect(broken((c) => (c.models.big.provider = 'nobody'))).toEqual({ field: 'models.big.provider', rule: 'reference' });
    expect(broken((c) => (c.models.big.degrade_to = 'big'))).toEqual({ field: 'models.big.degrade_to', rule: 'cheaper' });
    expect(broken((c) => ((c.models.big as Record<string, unknown>)['price'] = 1))).toEqual({ field: 'models.big.price', rule: 'additionalProperties' });
    expect(broken((c) => (c.models.big.max_output_tokens = 0))).toEqual({ field: 'models.big.max_output_tokens', rule: 'minimum' });
  });

  it('makes each model a metered tool: reserved from the call’s limits, settled at the tokens used', () => {
    const big = catalogue.models.get('big');
    if (big === undefined) throw new Error('no big model');
    const tool = modelToolDefinition(catalogue, big);
    expect(tool).toMatchObject({ name: 'model.big', effect: 'read', credential: { env: 'P_KEY' }, retry: { max_attempts: 1 } });
    expect(modelTargetOf(tool.endpoint.url)).toEqual({ url: 'http://127.0.0.1:9/v1/chat/completions', model: 'big-2024' });
    // 100 prompt tokens at 2 USD/M and 50 output tokens at 8 USD/M: 200 + 400 micro-USD.
    expect(reservedCostOf(tool, { prompt_tokens_max: 100, max_tokens: 50 })).toBe(600);
    // The declared maximum: a full context and the most output.
    expect(reservedCostOf(tool)).toBe(2_000 + 4_000);
    expect(actualCostOf(tool, { usage: { prompt_tokens: 10, completion_tokens: 3 } })).toEqual({ micros: 20 + 24, reported: true });
    expect(actualCostOf(tool, { usage: null })).toEqual({ micros: 6_000, reported: false });
  });
});

describe('a chat request', () => {
  it('becomes arguments with sizes and a digest, never the prompt', () => {
    const request = parseChatRequest({ model: 'big', messages, max_tokens: 20, temperature: 0.5, stream: true }, catalogue);
    const args = proposalArguments(request, '00000000-0000-4000-8000-000000000000');
    expect(args).toEqual({
      model: 'big',
      call_id: '00000000-0000-4000-8000-000000000000',
      request_sha256: upstreamDigest(request.upstream),
      messages: 1,
      prompt_tokens_max: request.prompt_tokens_max,
      max_tokens: 20,
      stream: true,
    });
    expect(JSON.stringify(args)).not.toContain('hello');
    expect(request.upstream).toMatchObject({ messages, max_tokens: 20, temperature: 0.5, stream_options: { include_usage: true } });
    expect(request.prompt_tokens_max).toBeGreaterThanOrEqual(Buffer.byteLength('hello'));
  });

  it('defaults max_tokens to the model’s most, and keeps it within the cheaper model’s when routed', () => {
    expect(parseChatRequest({ model: 'big', messages }, catalogue).max_tokens).toBe(500);
    const small = catalogue.models.get('small.v1');
    expect(parseChatRequest({ model: 'big', messages, max_tokens: 400 }, catalogue, small).max_tokens).toBe(200);
  });

  it('names the field and the rule of what it refuses', () => {
    const problem = (body: unknown): unknown => {
      try {
        parseChatRequest(body, catalogue);
      } catch (error) {
        return { code: (error as { code: string }).code, field: (error as { field?: string }).field, rule: (error as { rule?: string }).rule };
      }
      return 'accepted';
    };
    expect(problem({ model: 'big' })).toEqual({ code: 'REQUEST_INVALID', field: 'messages', rule: 'required' });
    expect(problem({ model: 'none', messages })).toEqual({ code: 'MODEL_UNKNOWN', field: 'model', rule: 'enum' });
    expect(problem({ model: 'big', messages: [{ role: 'root', content: 'x' }] })).toEqual({ code: 'REQUEST_INVALID', field: 'messages[0].role', rule: 'enum' });
    expect(problem({ model: 'big', messages, max_tokens: 501 })).toEqual({ code: 'REQUEST_INVALID', field: 'max_tokens', rule: 'maximum' });
    expect(problem({ model: 'big', messages, n: 2 })).toEqual({ code: 'REQUEST_INVALID', field: 'n', rule: 'const' });
    expect(problem({ model: 'big', messages, functions: [] })).toEqual({ code: 'REQUEST_INVALID', field: 'functions', rule: 'additionalProperties' });
  });
});

describe('server-sent events', () => {
  it('are split however the bytes arrive', () => {
    const seen: string[] = [];
    const splitter = new SseSplitter((data) => seen.push(data));
    expect(splitter.feed('data: {"a"')).toBe(0);
    expect(splitter.feed(':1}\r\n\r\ndata: [DONE]\n')).toBe(1);
    expect(splitter.feed('\n')).toBe(1);
    expect(seen).toEqual(['{"a":1}', '[DONE]']);
  });
});
