// The relay of a model call from the executor to the gateway: the body of the executor's answer to
// POST /internal/model-calls/{call_id}, framed so that the provider's bytes and what the executor
// says about them travel on one connection:
//   H {"status":200,"content_type":"application/json","provider_ms":412.5}\n
//                                                           the provider answers (once, first), after
//                                                           provider_ms (its time to the head; absent
//                                                           when the provider was not called)
//   D <n>\n<n bytes>                                         the provider's bytes, as they come
//   L {"outcome":"executed","cost_micros":..,"currency":..}\n the call's outcome is on the log
// The L frame is sent only after the executor's ActionExecuted (or ActionFailed) is acknowledged
// by every in-sync replica: from then on the call is durably recorded and settles from the log, so
// the gateway may answer without waiting for the planner's ActionCompleted. A relay that ends
// without it (the executor stopped, the produce failed) leaves the gateway to wait for the log.

/** What the executor's outcome event said, once it is on the log. */
export interface RelayLogged {
  /** executed: ActionExecuted (the provider answered, whatever its status); failed: ActionFailed. */
  readonly outcome: 'executed' | 'failed';
  readonly cost_micros: number | null;
  readonly currency: string | null;
}

const NEWLINE = 0x0a;

export function relayHead(status: number, contentType: string, providerMs?: number): Buffer {
  return Buffer.from(`H ${JSON.stringify({ status, content_type: contentType, ...(providerMs === undefined ? {} : { provider_ms: providerMs }) })}\n`);
}

/** The relay's head: the provider's status and content type, and how long it took to answer them (null: not called). */
export interface RelayHead {
  readonly status: number;
  readonly contentType: string;
  readonly providerMs: number | null;
}

export function relayData(chunk: Uint8Array | string): Buffer {
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.concat([Buffer.from(`D ${bytes.byteLength}\n`), bytes]);
}

export function relayLogged(logged: RelayLogged): Buffer {
  return Buffer.from(`L ${JSON.stringify(logged)}\n`);
}

/** A malformed relay: the executor and the gateway disagree on the protocol (a version skew). */
export class RelayProtocolError extends Error {
  override readonly name = 'RelayProtocolError';
}

type Frame = ({ kind: 'head' } & RelayHead) | { kind: 'data'; bytes: Uint8Array } | { kind: 'logged'; logged: RelayLogged };

/** Reads a relay's frames from the executor's answer. */
export class RelayReader {
  /** The provider's status and content type, once the call begins. */
  readonly head: Promise<RelayHead>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #logged: RelayLogged | undefined;

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
    this.head = this.#readHead();
    this.head.catch(() => undefined);
  }

  /** The executor's word that the outcome is on the log, once the relay has been read to its end (undefined: it did not say). */
  get logged(): RelayLogged | undefined {
    return this.#logged;
  }

  async #readHead(): Promise<RelayHead> {
    const frame = await this.#next();
    if (frame?.kind !== 'head')
      throw new RelayProtocolError(frame === undefined ? 'the relay ended before the call began' : `a ${frame.kind} frame before the head`);
    return { status: frame.status, contentType: frame.contentType, providerMs: frame.providerMs };
  }

  /** Hands each of the provider's chunks to `onData` until the relay ends. */
  async forEachChunk(onData: (bytes: Uint8Array) => void): Promise<void> {
    await this.head;
    for (;;) {
      const frame = await this.#next();
      if (frame === undefined) return;
      if (frame.kind === 'data') onData(frame.bytes);
      else if (frame.kind === 'logged') this.#logged = frame.logged;
      else throw new RelayProtocolError('a second head frame');
    }
  }

  /** The rest of the provider's answer as text. */
  async rest(): Promise<string> {
    const decoder = new TextDecoder();
    let text = '';
    await this.forEachChunk((bytes) => {
      text += decoder.decode(bytes, { stream: true });
    });
    return text + decoder.decode();
  }

  async #next(): Promise<Frame | undefined> {
    for (;;) {
      const frame = this.#parse();
      if (frame !== undefined) return frame;
      if (this.#ended) {
        if (this.#buffer.length > 0) throw new RelayProtocolError('the relay ended inside a frame');
        return undefined;
      }
      const { done, value } = await this.#reader.read();
      if (done) this.#ended = true;
      else this.#buffer = this.#buffer.length === 0 ? Buffer.from(value) : Buffer.concat([this.#buffer, value]);
    }
  }

  #parse(): Frame | undefined {
    const eol = this.#buffer.indexOf(NEWLINE);
    if (eol < 0) return undefined;
    const line = this.#buffer.subarray(0, eol).toString('utf8');
    const tag = line.slice(0, 2);
    if (tag === 'D ') {
      const length = Number(line.slice(2));
      if (!Number.isSafeInteger(length) || length < 0) throw new RelayProtocolError(`a data frame of length ${line.slice(2)}`);
      if (this.#buffer.length < eol + 1 + length) return undefined;
      const bytes = this.#buffer.subarray(eol + 1, eol + 1 + length);
      this.#buffer = this.#buffer.subarray(eol + 1 + length);
      return { kind: 'data', bytes };
    }
    this.#buffer = this.#buffer.subarray(eol + 1);
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line.slice(2)) as Record<string, unknown>;
    } catch {
      throw new RelayProtocolError(`a frame that is not H, D or L JSON: ${line.slice(0, 40)}`);
    }
    if (tag === 'H ' && typeof value['status'] === 'number' && typeof value['content_type'] === 'string') {
      const providerMs = value['provider_ms'];
      return {
        kind: 'head',
        status: value['status'],
        contentType: value['content_type'],
        providerMs: typeof providerMs === 'number' && Number.isFinite(providerMs) && providerMs >= 0 ? providerMs : null,
      };
    }
    if (tag === 'L ' && (value['outcome'] === 'executed' || value['outcome'] === 'failed')) {
      const cost = value['cost_micros'];
      const currency = value['currency'];
      return {
        kind: 'logged',
        logged: { outcome: value['outcome'], cost_micros: typeof cost === 'number' ? cost : null, currency: typeof currency === 'string' ? currency : null },
      };
    }
    throw new RelayProtocolError(`an unknown frame: ${line.slice(0, 40)}`);
  }
}
