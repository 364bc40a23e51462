import { Body, Controller, Get, Headers, Inject, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Directory } from '@writ/directory';
import { openAiErrorOf } from '@writ/model-proxy';
import { authenticateRequest } from '@writ/runtime';
import { DIRECTORY } from '../config.ts';
import { ModelProxy } from './model-proxy.ts';

type HeaderMap = Record<string, string | string[] | undefined>;

/**
 * The OpenAI-compatible model proxy (docs/model-proxy.md): `POST /v1/chat/completions` (with
 * `stream: true` as server-sent events) and `GET /v1/models`, for agents with their API key as
 * `Authorization: Bearer` and their run as `X-Writ-Run`. Every error, the key's included, is in
 * OpenAI's shape. Outside the OpenAPI document: the API it follows is OpenAI's.
 */
@Controller('v1')
export class ModelsController {
  constructor(
    @Inject(ModelProxy) private readonly proxy: ModelProxy,
    @Inject(DIRECTORY) private readonly directory: Directory,
  ) {}

  @Get('models')
  async models(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    try {
      const caller = authenticateRequest(this.directory, request);
      void reply.status(200).send(await this.proxy.models(caller));
    } catch (error) {
      const { status, body } = openAiErrorOf(error);
      void reply.status(status).send(body);
    }
  }

  @Post('chat/completions')
  async complete(@Req() request: FastifyRequest, @Res() reply: FastifyReply, @Body() body: unknown, @Headers() headers: HeaderMap): Promise<void> {
    const gone = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) gone.abort();
    };
    reply.raw.once('close', onClose);
    reply.hijack();
    try {
      const caller = authenticateRequest(this.directory, request);
      await this.proxy.complete(caller, body, headers, reply.raw, gone.signal);
    } catch (error) {
      const { status, body: errorBody } = openAiErrorOf(error);
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
        reply.raw.end(JSON.stringify(errorBody));
      } else if (!reply.raw.writableEnded) {
        reply.raw.end(`data: ${JSON.stringify(errorBody)}\n\n`);
      }
    } finally {
      reply.raw.off('close', onClose);
    }
  }
}
