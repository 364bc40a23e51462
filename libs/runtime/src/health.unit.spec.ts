import { describe, expect, it } from 'vitest';
import type { FastifyReply } from 'fastify';
import { HealthController } from './health.ts';

/** The reply's status as the controller set it (undefined: left at Nest's 200). */
function replyRecorder(): { reply: FastifyReply; status: () => number | undefined } {
  let code: number | undefined;
  const reply = {
    status(value: number) {
      code = value;
      return reply;
    },
  };
  return { reply: reply as unknown as FastifyReply, status: () => code };
}

describe('GET /health/ready', () => {
  it('answers 503 with the reason when no broker answers, so a plain HTTP probe sees it', async () => {
    // Port 1 on loopback: nothing listens, the metadata request fails.
    const controller = new HealthController({ name: 'planner', version: '0.0.0', kafkaBrokers: ['127.0.0.1:1'], startedAt: Date.now() });
    const { reply, status } = replyRecorder();
    const body = await controller.ready(reply);
    expect(status()).toBe(503);
    expect(body).toMatchObject({ status: 'not_ready', service: 'planner' });
    expect(body.kafka).not.toBe('reachable');
  }, 15_000);
});
