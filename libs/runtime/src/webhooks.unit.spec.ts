import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { webhookSignature } from './webhooks.ts';

describe('webhookSignature', () => {
  it('signs "<t>.<body>" with HMAC-SHA256 of the tenant secret: a receiver recomputes it, another secret does not match', () => {
    const body = '{"event":"approval.requested"}';
    const header = webhookSignature('s3cret-s3cret-s3cret', body, 1_796_600_000);
    const expected = createHmac('sha256', 's3cret-s3cret-s3cret').update(`1796600000.${body}`).digest('hex');
    expect(header).toBe(`t=1796600000,v1=${expected}`);
    expect(webhookSignature('another-secret-value', body, 1_796_600_000)).not.toBe(header);
    expect(webhookSignature('s3cret-s3cret-s3cret', `${body} `, 1_796_600_000)).not.toBe(header);
  });
});
