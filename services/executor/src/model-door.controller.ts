// The executor's model door: the gateway hands over a model call's request body (never on the log)
// and keeps the connection open; the executor answers on it with the provider's bytes once the
// call's action executes (withModelCalls in @writ/model-proxy), or 504 when it never does in time.
// Only the gateway may knock: a bearer token shared by the two (WRIT_MODEL_DOOR_TOKEN).
import { timingSafeEqual } from 'node:crypto';
import { Body, Controller, Headers, Inject, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { SERVICE_CONFIG } from '@writ/runtime';
import { relayData, relayHead, relayLogged } from '@writ/model-proxy';
import type { ModelCallDoor, ModelCallSink } from '@writ/model-proxy';
import type { ExecutorServiceConfig } from './config.ts';

/** Nest token of the engine's parked model calls. */
export const MODEL_CALL_DOOR = Symbol('MODEL_CALL_DOOR');

const CALL_ID = /^[0-9a-f-]{36}$/;

function sameToken(given: string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(`Bearer ${expected}`);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(reply: FastifyReply, status: number, code: string, message: string): void {
  void reply.status(status).send({ error: { code, message } });
}

@Controller('internal/model-calls')
export class ModelDoorController {
  constructor(
    @Inject(MODEL_CALL_DOOR) private readonly door: ModelCallDoor,
    @Inject(SERVICE_CONFIG) private readonly config: ExecutorServiceConfig,
  ) {}

  @Post(':call_id')
  hand(@Param('call_id') callId: string, @Body() body: unknown, @Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): void {
    const token = this.config.WRIT_MODEL_DOOR_TOKEN;
    if (token === undefined) return refuse(reply, 503, 'MODEL_PROXY_UNAVAILABLE', 'the model door is closed (WRIT_MODEL_DOOR_TOKEN is not set)');
    if (!sameToken(authorization, token)) return refuse(reply, 401, 'UNAUTHENTICATED', 'the model door takes the gateway’s bearer token only');
    if (!CALL_ID.test(callId)) return refuse(reply, 400, 'REQUEST_INVALID', 'call_id must be a UUID');
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return refuse(reply, 400, 'REQUEST_INVALID', 'the body must be the request as a JSON object');
    reply.hijack();
    const raw = reply.raw;
    let begun = false;
    // The relay (@writ/model-proxy relay.ts): headers now (the body is parked), then a head frame
    // with the provider's status and content type (and its time to answer them) when the call begins, the provider's bytes as
    // they come, and the word that the call's outcome is on the log.
    const sink: ModelCallSink = {
      begin: (status, contentType, providerMs) => {
        begun = true;
        if (!raw.destroyed) raw.write(relayHead(status, contentType, providerMs));
      },
      write: (chunk) => {
        if (!raw.destroyed) raw.write(relayData(chunk));
      },
      end: (logged) => {
        if (!raw.destroyed) raw.end(logged === undefined ? undefined : relayLogged(logged));
      },
    };
    const parked = this.door.park(callId, body as Record<string, unknown>, sink, () => {
      if (begun || raw.destroyed) return;
      raw.write(relayHead(504, 'application/json'));
      raw.end(relayData(JSON.stringify({ error: { message: 'the call was not executed in time', type: 'api_error', code: 'MODEL_CALL_NOT_EXECUTED' } })));
    });
    if (!parked) {
      raw.writeHead(409, { 'content-type': 'application/json' });
      raw.end(JSON.stringify({ error: { code: 'IDEMPOTENCY_CONFLICT', message: `call ${callId} is already waiting (or the door is full)` } }));
      return;
    }
    raw.writeHead(200, { 'content-type': 'application/x-writ-model-relay', 'cache-control': 'no-store' });
    raw.flushHeaders();
    raw.on('close', () => {
      if (!begun) this.door.unpark(callId, sink);
    });
  }
}
