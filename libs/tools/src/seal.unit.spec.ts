import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withoutIdentifiers } from '@writ/testing';
import { TenantDataKey, canonicalJson, sha256Canonical } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import {
  hasSensitiveFields,
  loadToolRegistry,
  validateSealedArguments,
  redactArguments,
  scrubberOf,
  sealArguments,
  sensitivePaths,
  sensitiveTexts,
  unsealArguments,
  validateArguments,
} from './index.ts';
import type { JsonSchema, ToolDefinition } from './index.ts';

const REPO_TOOLS = resolve(import.meta.dirname, '../../../tools');
const registry = loadToolRegistry(REPO_TOOLS);
const refund = registry.get('refunds.issue') as ToolDefinition;

const nested: Pick<ToolDefinition, 'arguments'> = {
  arguments: {
    type: 'object',
    $defs: { pin: { type: 'string', 'x-writ-sensitive': true } },
    properties: {
      card: { type: 'object', properties: { number: { type: 'string', 'x-writ-sensitive': true }, brand: { type: 'string' } } },
      notes: { type: 'array', items: { type: 'object', properties: { pin: { $ref: '#/$defs/pin' } } } },
      twice: { allOf: [{ 'x-writ-sensitive': true }, { 'x-writ-sensitive': true }] },
      whole: { type: 'object', 'x-writ-sensitive': true, properties: { inner: { type: 'string', 'x-writ-sensitive': true } } },
    },
  } as JsonSchema,
};

const acme = TenantDataKey.generate('acme');
const seal = (value: unknown, path: string) => acme.seal(value, path);
const open = (sealed: unknown, path: string) => acme.unseal(sealed, path);

const refundArgs = { ticket_id: 'T-1', customer_id: 'C-1', amount_cents: 500, ticket_tags: ['x'], reason: 'dup', card_last4: '4242' };

describe('sealArguments / unsealArguments', () => {
  it('seals only the sensitive fields of refunds.issue; the digest is deterministic and the clear value is gone', () => {
    const sealed = sealArguments(refund, refundArgs, seal) as Record<string, unknown>;
    expect(sealed).toMatchObject({ ticket_id: 'T-1', amount_cents: 500, card_last4: { $sealed: expect.stringMatching(/^v1\./) as unknown } });
    expect(withoutIdentifiers(canonicalJson(sealed))).not.toContain('4242');
    expect(sha256Canonical(sealArguments(refund, refundArgs, seal))).toBe(sha256Canonical(sealed));
    expect(sha256Canonical(sealed)).not.toBe(sha256Canonical(refundArgs));
    expect(unsealArguments(refund, sealed, open)).toEqual(refundArgs);
    expect(refundArgs.card_last4).toBe('4242'); // the input is not changed
    const { card_last4: _omitted, ...withoutCard } = refundArgs;
    expect(sealArguments(refund, withoutCard, seal)).toEqual(withoutCard);
  });

  it('finds nested, $ref, array and combinator places once each, outermost first', () => {
    const args = { card: { number: '4111111111111111', brand: 'visa' }, notes: [{ pin: '1234' }, { pin: '9876' }], twice: 'xx', whole: { inner: 'yy' } };
    expect(sensitivePaths(nested.arguments, args).map((p) => p.join('/'))).toEqual(['card/number', 'notes/0/pin', 'notes/1/pin', 'twice', 'whole']);
    const sealed = sealArguments(nested, args, seal);
    const text = canonicalJson(sealed);
    // As JSON strings: a sealed value is base64, which may hold 'yy' or '1234' by chance, never a quote.
    for (const secret of ['4111111111111111', '1234', '9876', 'yy']) expect(text).not.toContain(`"${secret}"`);
    expect(text).toContain('visa');
    expect(unsealArguments(nested, sealed, open)).toEqual(args);
    expect(sensitiveTexts(nested, args).sort()).toEqual(['1234', '4111111111111111', '9876', 'xx', 'yy']);
  });

  it('refuses a clear value at a sensitive place, and a sealed value moved to another place', () => {
    const error = (() => {
      try {
        unsealArguments(refund, refundArgs, open);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isWritError(error, 'SENSITIVE_NOT_SEALED')).toBe(true);
    expect((error as Error).message).toContain('arguments.card_last4');
    expect((error as Error).message).not.toContain('4242');
    const moved = { ...refundArgs, card_last4: acme.seal('4242', '$.reason') };
    expect(() => unsealArguments(refund, moved, open)).toThrow(/does not open/);
  });

  it('the gateway view still masks a sealed field, and a sealed field no longer validates as its clear type', () => {
    const sealed = sealArguments(refund, refundArgs, seal);
    expect(redactArguments(refund, sealed)).toMatchObject({ card_last4: '[redacted]' });
    expect(validateArguments(refund, sealed).ok).toBe(false);
    expect(validateArguments(refund, unsealArguments(refund, sealed, open)).ok).toBe(true);
    // As it travels (planner): sealed where sensitive, the schema everywhere else.
    expect(validateSealedArguments(refund, sealed).ok).toBe(true);
    expect(validateSealedArguments(refund, refundArgs)).toMatchObject({ ok: false, problems: [{ field: 'card_last4', rule: 'type' }] });
    expect(validateSealedArguments(refund, { ...(sealed as object), amount_cents: 0 })).toMatchObject({
      ok: false,
      problems: [{ field: 'amount_cents', rule: 'minimum' }],
    });
    const { card_last4: _card, ...withoutCard } = refundArgs;
    expect(validateSealedArguments(refund, withoutCard).ok).toBe(true);
  });

  it('knows which registered tools have sensitive fields', () => {
    expect(hasSensitiveFields(refund)).toBe(true);
    expect(hasSensitiveFields(registry.get('customers.get') as ToolDefinition)).toBe(true);
    expect(hasSensitiveFields({ arguments: { type: 'object' } })).toBe(false);
  });
});

describe('scrubberOf', () => {
  it('replaces every occurrence of the secrets in text, JSON strings, keys and equal numbers', () => {
    const scrub = scrubberOf(['4242', 'tok-secret-123', undefined, 'ab']);
    expect(scrub.text('card 4242 rejected; Bearer tok-secret-123; ab stays')).toBe('card [redacted] rejected; Bearer [redacted]; ab stays');
    expect(scrub.json({ last4: '4242', n: 4242, list: ['x4242x'], ['k4242']: 1, ok: 'fine' })).toEqual({
      last4: '[redacted]',
      n: '[redacted]',
      list: ['x[redacted]x'],
      ['k[redacted]']: 1,
      ok: 'fine',
    });
    expect(scrubberOf([]).json({ a: 1 })).toEqual({ a: 1 });
  });
});
