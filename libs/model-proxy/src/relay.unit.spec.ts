import { describe, expect, it } from 'vitest';
import { RelayProtocolError, RelayReader, relayData, relayHead, relayLogged } from './relay.ts';

/** A reader over `bytes`, cut into pieces of `size` bytes (frames split anywhere, as TCP may). */
function readerOf(bytes: Buffer, size: number): RelayReader {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += size) controller.enqueue(new Uint8Array(bytes.subarray(at, at + size)));
      controller.close();
    },
  });
  return new RelayReader(stream.getReader());
}

describe('the model call relay', () => {
  const provider = ['data: {"choices":[{"delta":{"content":"héllo\\n"}}]}\n\n', 'D 3\n', 'data: [DONE]\n\n'];
  const whole = Buffer.concat([
    relayHead(200, 'text/event-stream', 412.5),
    ...provider.map((chunk) => relayData(chunk)),
    relayLogged({ outcome: 'executed', cost_micros: 7, currency: 'USD' }),
  ]);

  it.each([1, 3, 7, whole.length])(
    'carries the head, the provider’s bytes as they were (frame markers inside them too) and the word of the log, cut every %i bytes',
    async (size) => {
      const reader = readerOf(whole, size);
      expect(await reader.head).toEqual({ status: 200, contentType: 'text/event-stream', providerMs: 412.5 });
      const chunks: string[] = [];
      await reader.forEachChunk((bytes) => chunks.push(Buffer.from(bytes).toString('utf8')));
      expect(chunks.join('')).toBe(provider.join(''));
      expect(reader.logged).toEqual({ outcome: 'executed', cost_micros: 7, currency: 'USD' });
    },
  );

  it('says nothing of the log when the executor ended without that word', async () => {
    const reader = readerOf(Buffer.concat([relayHead(503, 'application/json'), relayData('{"error":{}}')]), 4);
    // No provider time when the executor answered for it (the provider was not called).
    expect(await reader.head).toEqual({ status: 503, contentType: 'application/json', providerMs: null });
    expect(await reader.rest()).toBe('{"error":{}}');
    expect(reader.logged).toBeUndefined();
  });

  it('refuses a relay that ends before the head, inside a frame, or speaks another protocol', async () => {
    await expect(readerOf(Buffer.alloc(0), 1).head).rejects.toThrow(RelayProtocolError);
    const cut = readerOf(Buffer.concat([relayHead(200, 'application/json'), Buffer.from('D 10\nabc')]), 5);
    await cut.head;
    await expect(cut.rest()).rejects.toThrow('ended inside a frame');
    await expect(readerOf(Buffer.from('{"status":200,"content_type":"application/json"}\n'), 8).head).rejects.toThrow(RelayProtocolError);
  });
});
