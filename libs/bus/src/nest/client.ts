import { ClientProxy } from '@nestjs/microservices';
import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import { WritError } from '@writ/errors';
import { EventProducer } from '../producer.ts';
import type { EventProducerOptions, SentEvent } from '../producer.ts';
import type { OutgoingEvent } from '../serde.ts';

/**
 * Nest client over the Writ bus: `client.emit('ActionProposed', payload)` encodes the event and
 * produces it to its topic, keyed by `payload.meta.run_id`; the observable emits the SentEvent
 * once every in-sync replica has it. Packet metadata set by a dispatch hook travels as headers.
 * `send()` (request-response) is not offered: Writ services talk in events.
 */
export class WritKafkaClient extends ClientProxy {
  readonly #producer: EventProducer;
  #connecting: Promise<void> | undefined;

  constructor(options: EventProducerOptions) {
    super();
    this.#producer = new EventProducer(options);
  }

  connect(): Promise<void> {
    this.#connecting ??= this.#producer.connect().catch((error: unknown) => {
      this.#connecting = undefined;
      throw error;
    });
    return this.#connecting;
  }

  async close(): Promise<void> {
    if (this.#connecting === undefined) return;
    await this.#connecting.catch(() => undefined);
    this.#connecting = undefined;
    await this.#producer.disconnect();
  }

  unwrap<T>(): T {
    return this.#producer as T;
  }

  protected publish(_packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    callback({
      err: new WritError('UNSUPPORTED', 'WritKafkaClient carries events only: use emit(), not send()'),
      isDisposed: true,
    });
    return () => undefined;
  }

  protected async dispatchEvent<T = SentEvent>(packet: ReadPacket): Promise<T> {
    if (typeof packet.pattern !== 'string') {
      throw new WritError('EVENT_TYPE_INVALID', 'the pattern of emit() must be an event type name', {
        field: 'pattern',
        rule: 'an event type such as ActionProposed',
      });
    }
    // emit() carries untyped data: the serde checks the type and the payload against the contracts.
    const event = { type: packet.pattern, payload: packet.data, ...(packet.metadata === undefined ? {} : { headers: packet.metadata }) } as OutgoingEvent;
    const [sent] = await this.#producer.send([event]);
    return sent as T;
  }
}
