import { BaseRpcContext, Server } from '@nestjs/microservices';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { isObservable, lastValueFrom } from 'rxjs';
import { WritError } from '@writ/errors';
import { EventConsumer } from '../consumer.ts';
import { contractsSerde } from '../contracts-serde.ts';
import type { EventConsumerOptions, EventContext } from '../consumer.ts';
import type { DecodedEvent } from '../serde.ts';

/** What `@Ctx()` gives a handler: the decoded event (type, schema version) and where it came from. */
export class WritKafkaContext extends BaseRpcContext<[DecodedEvent, EventContext]> {
  getEvent(): DecodedEvent {
    return this.args[0];
  }

  getEventContext(): EventContext {
    return this.args[1];
  }
}

export interface WritKafkaServerOptions extends Omit<EventConsumerOptions, 'handler' | 'topics'> {
  /** Default: the topics of the event types the app's @EventPattern handlers name. */
  readonly topics?: readonly string[];
}

export const WRIT_KAFKA_TRANSPORT = Symbol('WRIT_KAFKA_TRANSPORT');

/**
 * Nest transport over the Writ bus: `@EventPattern('ActionProposed') handle(@Payload() payload)`
 * receives the decoded payload of every ActionProposed on the consumer group's topics, with the
 * EventConsumer's guarantees (commit after success, retries, DLQ). Events only: a handler's
 * return value is ignored, there is no request-response.
 */
export class WritKafkaServer extends Server implements CustomTransportStrategy {
  readonly #options: WritKafkaServerOptions;
  #consumer: EventConsumer | undefined;

  constructor(options: WritKafkaServerOptions) {
    super();
    this.#options = options;
    this.transportId = WRIT_KAFKA_TRANSPORT;
  }

  /** Event types with a handler: the keys of `@EventPattern`. */
  eventTypes(): string[] {
    return [...this.getHandlers().entries()].filter(([, handler]) => handler.isEventHandler).map(([pattern]) => pattern);
  }

  listen(callback: (error?: unknown) => void): void {
    this.#start().then(
      () => callback(),
      (error: unknown) => callback(error),
    );
  }

  async #start(): Promise<void> {
    const requests = [...this.getHandlers().entries()].filter(([, handler]) => !handler.isEventHandler).map(([pattern]) => pattern);
    if (requests.length > 0) {
      throw new WritError('CONFIG_INVALID', `WritKafkaServer carries events only; @MessagePattern handlers found: ${requests.join(', ')}`, {
        field: 'handlers',
        rule: 'use @EventPattern: Writ services talk in events, not request-response',
      });
    }
    const topics = this.#options.topics ?? [...new Set(this.eventTypes().map((type) => (this.#options.serde ?? contractsSerde).topicOf(type)))];
    if (topics.length === 0) {
      throw new WritError('CONFIG_INVALID', `consumer group ${this.#options.groupId} has no @EventPattern handler and no topics`, {
        field: 'topics',
        rule: 'declare at least one @EventPattern handler or pass topics',
      });
    }
    this.#consumer = new EventConsumer({ ...this.#options, topics, handler: (event, ctx) => this.#dispatch(event, ctx) });
    await this.#consumer.start();
  }

  async #dispatch(event: DecodedEvent, ctx: EventContext): Promise<void> {
    const handler = this.getHandlerByPattern(event.type);
    // Topics carry several event types; those this service has no handler for are not its business.
    if (handler === null || !handler.isEventHandler) return;
    const result: unknown = await handler(event.payload, new WritKafkaContext([event, ctx]));
    if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
  }

  async close(): Promise<void> {
    await this.#consumer?.stop();
  }

  on(): never {
    throw new WritError('UNSUPPORTED', 'WritKafkaServer has no events to listen to');
  }

  unwrap<T>(): T {
    if (this.#consumer === undefined) {
      throw new WritError('BUS_STATE', 'WritKafkaServer is not listening: call listen() first');
    }
    return this.#consumer as T;
  }
}
