// A tenant's webhook for tests: an HTTP server on loopback that keeps every POST it got (its
// Writ headers and its body as sent, which is what the signature covers).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  /** x-writ-event */
  readonly event: string;
  /** x-writ-delivery */
  readonly delivery: string;
  /** x-writ-signature */
  readonly signature: string;
  /** The body as sent. */
  readonly text: string;
  readonly body: Record<string, unknown>;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: ReceivedWebhook[];
  close(): Promise<void>;
}

/** Starts the receiver on a free port; the first `refuse` deliveries are answered 503 (to see them retried). */
export async function startWebhookReceiver(options: { readonly refuse?: number } = {}): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  let refusals = options.refuse ?? 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (refusals > 0) {
        refusals -= 1;
        response.writeHead(503).end();
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      received.push({
        event: String(request.headers['x-writ-event']),
        delivery: String(request.headers['x-writ-delivery']),
        signature: String(request.headers['x-writ-signature']),
        text,
        body: JSON.parse(text) as Record<string, unknown>,
      });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/writ`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
