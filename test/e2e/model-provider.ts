// A simulated OpenAI-compatible provider for the model proxy's suites: a small HTTP server with
// deterministic tokens and usage, streaming chunks and an error mode, and the files and variables
// that put its models behind a stack's model proxy. Everything on Writ's side of it is real.
import { cpSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { parseModelCatalogue, writeModelTools } from '@writ/model-proxy';
import type { ModelCatalogue } from '@writ/model-proxy';
import { root } from './support.ts';

/** The provider's usage: 10 prompt tokens per message, always 3 completion tokens ("Hello", " from", " sim"). */
export const SIM_COMPLETION_TOKENS = 3;
export const SIM_PIECES = ['Hello', ' from', ' sim'];

/** A request the provider got, as it got it. */
export interface ProviderCall {
  readonly model: string;
  readonly authorization: string | undefined;
  readonly stream: boolean;
  readonly body: Record<string, unknown>;
}

export interface SimProvider {
  readonly server: Server;
  /** Every request, in arrival order. */
  readonly calls: ProviderCall[];
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/**
 * An OpenAI-compatible chat completions endpoint on 127.0.0.1:`port` answering requests that carry
 * `key` as their bearer; "FAIL" as the last message makes it answer 500.
 */
export function startSimProvider(port: number, key: string): Promise<SimProvider> {
  const calls: ProviderCall[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void readBody(request).then((text) => {
      const body = JSON.parse(text) as { model: string; messages: { content: string }[]; stream?: boolean; stream_options?: { include_usage?: boolean } };
      calls.push({ model: body.model, authorization: request.headers.authorization, stream: body.stream === true, body });
      if (request.url !== '/v1/chat/completions' || request.headers.authorization !== `Bearer ${key}`) {
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { message: 'bad key', type: 'invalid_request_error', code: 'invalid_api_key' } }));
        return;
      }
      if (body.messages.at(-1)?.content === 'FAIL') {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { message: 'the simulated provider is overloaded', type: 'server_error', code: 'overloaded' } }));
        return;
      }
      const usage = {
        prompt_tokens: 10 * body.messages.length,
        completion_tokens: SIM_COMPLETION_TOKENS,
        total_tokens: 10 * body.messages.length + SIM_COMPLETION_TOKENS,
      };
      const id = `chatcmpl-sim-${calls.length}`;
      if (body.stream !== true) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            id,
            object: 'chat.completion',
            created: 1,
            model: body.model,
            choices: [{ index: 0, message: { role: 'assistant', content: SIM_PIECES.join('') }, finish_reason: 'stop' }],
            usage,
          }),
        );
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: Record<string, unknown>, finish: string | null): string =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      response.write(chunk({ role: 'assistant', content: '' }, null));
      for (const piece of SIM_PIECES) response.write(chunk({ content: piece }, null));
      response.write(chunk({}, 'stop'));
      if (body.stream_options?.include_usage === true) {
        response.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model: body.model, choices: [], usage })}\n\n`);
      }
      response.end('data: [DONE]\n\n');
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, calls })));
}

/** Prices per 1,000,000 tokens, in micro-USD. */
export interface SimPrice {
  readonly input: number;
  readonly output: number;
}

/** A model of the simulated provider, as WRIT_MODELS_FILE declares it (USD, 16,000 tokens of context, 1,000 out). */
export function simModel(upstreamModel: string, tier: string, price: SimPrice, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    provider: 'sim',
    upstream_model: upstreamModel,
    tier,
    currency: 'USD',
    input_micros_per_million: price.input,
    output_micros_per_million: price.output,
    context_tokens: 16_000,
    max_output_tokens: 1_000,
    ...extra,
  };
}

export interface SimModelStack {
  /** The stack's variables: the models file, the registry with the models imported, the executor's model door and the provider. */
  readonly env: Record<string, string>;
  readonly catalogue: ModelCatalogue;
}

/**
 * What an operator does to put the simulated provider's `models` behind a stack on `basePort`:
 * writes the models file and imports the models into a copy of the repository's registry, both
 * under `workDir`.
 */
export function simModelStack(options: {
  readonly workDir: string;
  readonly basePort: number;
  readonly providerPort: number;
  readonly providerKey: string;
  readonly doorToken: string;
  readonly models: Record<string, Record<string, unknown>>;
}): SimModelStack {
  const { workDir, models } = options;
  const file = { providers: { sim: { base_url: '${WRIT_E2E_PROVIDER_URL}', credential: { env: 'WRIT_E2E_PROVIDER_KEY' } } }, models };
  writeFileSync(join(workDir, 'models.json'), JSON.stringify(file));
  const catalogue = parseModelCatalogue(file);
  const toolsDir = join(workDir, 'tools');
  cpSync(join(root, 'tools'), toolsDir, { recursive: true });
  writeModelTools(catalogue, toolsDir);
  return {
    catalogue,
    env: {
      WRIT_TOOLS_DIR: toolsDir,
      WRIT_MODELS_FILE: join(workDir, 'models.json'),
      // The executor's port on the stack (base +4).
      WRIT_GATEWAY_EXECUTOR_URL: `http://127.0.0.1:${options.basePort + 4}`,
      WRIT_MODEL_DOOR_TOKEN: options.doorToken,
      WRIT_E2E_PROVIDER_URL: `http://127.0.0.1:${options.providerPort}/v1`,
      WRIT_E2E_PROVIDER_KEY: options.providerKey,
    },
  };
}
