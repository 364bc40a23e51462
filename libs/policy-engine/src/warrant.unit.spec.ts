import { describe, expect, it } from 'vitest';
import { canonicalJson, createKeyring, generateSigningKey, sha256Hex, verifyCanonical } from '@writ/crypto';
import { isWritError } from '@writ/errors';
import { issueWarrant, verifyWarrant } from './warrant.ts';
import type { ExpectedWarrantClaims, Warrant, WarrantCheck, WarrantClaims } from './warrant.ts';

const pdpKey = generateSigningKey('pdp-2026-07');
const keyring = createKeyring({ [pdpKey.keyId]: pdpKey.publicKey });
const argsSha = sha256Hex(canonicalJson({ amount_cents: 2500, ticket_id: 'T-1' }));
const NOW = Date.UTC(2026, 6, 1, 12, 0, 0);

const claims: WarrantClaims = {
  action_id: '0190f1a2-7c3e-7a11-9f00-000000000042',
  tenant: 'acme',
  agent: 'support-bot-1',
  tool: 'refunds.issue',
  tool_version: '1.2.0',
  args_sha256: argsSha,
  decision: 'allow',
  policy_set_hash: 'a'.repeat(64),
  not_after: NOW + 60_000,
};
const expected: ExpectedWarrantClaims = {
  action_id: claims.action_id,
  tenant: 'acme',
  agent: 'support-bot-1',
  tool: 'refunds.issue',
  tool_version: '1.2.0',
  args_sha256: argsSha,
};

function failure(check: WarrantCheck) {
  if (check.ok) throw new Error('expected the warrant to be rejected');
  return check.error;
}

describe('issueWarrant', () => {
  it('signs exactly {action_id, tenant, agent, tool@version, args_sha256, decision, policy_set_hash, not_after}', () => {
    const warrant = issueWarrant(claims, pdpKey);
    expect(warrant).toMatchObject({ key_id: 'pdp-2026-07', tool: 'refunds.issue@1.2.0', args_sha256: argsSha, not_after: NOW + 60_000 });
    const payload = {
      action_id: claims.action_id,
      tenant: 'acme',
      agent: 'support-bot-1',
      tool: 'refunds.issue@1.2.0',
      args_sha256: argsSha,
      decision: 'allow',
      policy_set_hash: 'a'.repeat(64),
      not_after: NOW + 60_000,
    };
    // Another implementation reproducing this payload verifies the same signature.
    expect(verifyCanonical(payload, warrant, keyring).ok).toBe(true);
    expect(verifyCanonical({ ...payload, extra: 1 }, warrant, keyring).ok).toBe(false);
  });

  it('refuses malformed claims instead of signing them', () => {
    const attempt = (bad: Partial<WarrantClaims>) => {
      try {
        issueWarrant({ ...claims, ...bad }, pdpKey);
      } catch (error) {
        if (isWritError(error, 'WARRANT_CLAIMS_INVALID')) return error.field;
        throw error;
      }
      return 'signed';
    };
    expect(attempt({ args_sha256: 'nope' })).toBe('args_sha256');
    expect(attempt({ policy_set_hash: 'A'.repeat(64) })).toBe('policy_set_hash');
    expect(attempt({ tool: 'refunds.issue@1.2.0' })).toBe('tool');
    expect(attempt({ not_after: 1.5 })).toBe('not_after');
    expect(attempt({ action_id: '' })).toBe('action_id');
    expect(attempt({ decision: 'maybe' as never })).toBe('decision');
  });
});

describe('verifyWarrant', () => {
  const warrant = issueWarrant(claims, pdpKey);

  it('accepts a genuine, unexpired warrant for the same action and arguments', () => {
    const check = verifyWarrant(warrant, expected, keyring, NOW);
    expect(check).toEqual({
      ok: true,
      claims: {
        action_id: claims.action_id,
        tenant: 'acme',
        agent: 'support-bot-1',
        tool: 'refunds.issue@1.2.0',
        args_sha256: argsSha,
        decision: 'allow',
        policy_set_hash: 'a'.repeat(64),
        not_after: NOW + 60_000,
      },
    });
    expect(verifyWarrant(warrant, { ...expected, policy_set_hash: 'a'.repeat(64) }, keyring, NOW).ok).toBe(true);
  });

  it.each<[string, Partial<Warrant>]>([
    ['a changed argument hash', { args_sha256: sha256Hex('{"amount_cents":999999}') }],
    ['a later expiry', { not_after: NOW + 86_400_000 }],
    ['another action', { action_id: 'act-2' }],
    ['another tool version', { tool: 'refunds.issue@2.0.0' }],
  ])('reports WARRANT_FORGED when a claim is edited after signing (%s)', (_what, edit) => {
    expect(failure(verifyWarrant({ ...warrant, ...edit }, expected, keyring, NOW))).toMatchObject({
      code: 'WARRANT_FORGED',
      field: 'warrant.signature',
    });
  });

  it('reports WARRANT_FORGED for a deny warrant relabelled allow', () => {
    const deny = issueWarrant({ ...claims, decision: 'deny' }, pdpKey);
    expect(failure(verifyWarrant({ ...deny, decision: 'allow' }, expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
  });

  it('reports WARRANT_FORGED for an unknown key, a key outside the keyring, a bad signature and garbage', () => {
    const rogue = generateSigningKey('pdp-2026-07');
    expect(failure(verifyWarrant(issueWarrant(claims, rogue), expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
    expect(failure(verifyWarrant({ ...warrant, key_id: 'unknown' }, expected, keyring, NOW)).message).toContain('key id "unknown" is not in the keyring');
    expect(failure(verifyWarrant({ ...warrant, signature: 'AAAA' }, expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
    expect(failure(verifyWarrant({ key_id: 'x' } as unknown as Warrant, expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
    expect(failure(verifyWarrant(null as unknown as Warrant, expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
  });

  it('reports WARRANT_EXPIRED after not_after, and accepts it up to that millisecond', () => {
    expect(verifyWarrant(warrant, expected, keyring, NOW + 60_000).ok).toBe(true);
    expect(failure(verifyWarrant(warrant, expected, keyring, NOW + 60_001))).toMatchObject({ code: 'WARRANT_EXPIRED', field: 'warrant.not_after' });
  });

  it.each<[string, Partial<ExpectedWarrantClaims>]>([
    ['args_sha256', { args_sha256: sha256Hex(canonicalJson({ amount_cents: 2501, ticket_id: 'T-1' })) }],
    ['tool', { tool_version: '1.3.0' }],
    ['tool', { tool: 'refunds.void' }],
    ['action_id', { action_id: 'another-action' }],
    ['tenant', { tenant: 'globex' }],
    ['agent', { agent: 'support-bot-2' }],
    ['decision', { decision: 'deny' }],
    ['policy_set_hash', { policy_set_hash: 'b'.repeat(64) }],
  ])('reports WARRANT_MISMATCH naming %s when the warrant is for something else', (claim, change) => {
    const error = failure(verifyWarrant(warrant, { ...expected, ...change }, keyring, NOW));
    expect(error).toMatchObject({ code: 'WARRANT_MISMATCH', field: `warrant.${claim}` });
    expect(error.details?.['claim']).toBe(claim);
  });

  it("never lets a shadow run's warrant pass as a live one: its signed mode is what the live claims lack", () => {
    const shadow = issueWarrant({ ...claims, mode: 'shadow' }, pdpKey);
    expect(shadow.mode).toBe('shadow');
    // As carried (the mode is part of what was signed): genuine.
    expect(verifyWarrant(shadow, expected, keyring, NOW).ok).toBe(true);
    // As the executor rebuilds it from an ExecutionRequested (no mode: a live warrant): forged.
    const { mode: _mode, ...live } = shadow;
    expect(failure(verifyWarrant(live, expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
    // And a live warrant relabelled shadow is no warrant either.
    expect(failure(verifyWarrant({ ...issueWarrant(claims, pdpKey), mode: 'shadow' }, expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
  });

  it('only lets an allow warrant through by default', () => {
    const deny = issueWarrant({ ...claims, decision: 'deny' }, pdpKey);
    expect(failure(verifyWarrant(deny, expected, keyring, NOW)).field).toBe('warrant.decision');
  });

  it('verifies across a key rotation while both keys are in the keyring', () => {
    const next = generateSigningKey('pdp-2026-08');
    const rotating = createKeyring({ [pdpKey.keyId]: pdpKey.publicKey, [next.keyId]: next.exportPublicKeyPem() });
    expect(verifyWarrant(warrant, expected, rotating, NOW).ok).toBe(true);
    expect(verifyWarrant(issueWarrant(claims, next), expected, rotating, NOW).ok).toBe(true);
    expect(failure(verifyWarrant(issueWarrant(claims, next), expected, keyring, NOW)).code).toBe('WARRANT_FORGED');
  });
});
