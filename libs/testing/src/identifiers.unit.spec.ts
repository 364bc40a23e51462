import { describe, expect, it } from 'vitest';
import { withoutIdentifiers } from './identifiers.ts';

describe('withoutIdentifiers', () => {
  it('cuts ids, hashes and timestamps, and keeps a short value standing on its own', () => {
    const text = '{"action_id":"d9509a8d-ef3b-4242-bb2f-7f72fb5e4ffd","run":"run-87ec4242","at":1796221004242,"card":"4242","note":"card 4242 charged"}';
    const cut = withoutIdentifiers(text);
    expect(cut).not.toContain('d9509a8d');
    expect(cut).not.toContain('1796221004242');
    expect(cut.match(/4242/g)).toHaveLength(2);
    expect(withoutIdentifiers(Buffer.from('id 0123456789abcdef4242 then 4242', 'latin1'))).toBe('id … then 4242');
  });
});
