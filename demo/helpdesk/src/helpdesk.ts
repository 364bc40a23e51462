// The helpdesk system of record, in memory: what it holds, what each write does, and the
// idempotency, statistics and fault-injection bookkeeping the tests rely on. No HTTP here.
import { createHash } from 'node:crypto';
import type { Customer, Seed, Ticket } from './seed.ts';

export interface Refund {
  refund_id: string;
  status: 'issued';
  ticket_id: string;
  customer_id: string;
  amount_cents: number;
  currency: string;
  reason: string;
  card_last4: string;
  created_at: string;
}

/** A note emailed to the helpdesk team (notifications.send); the demo records it instead of sending mail. */
export interface Notification {
  notification_id: string;
  status: 'sent';
  ticket_id: string;
  to: string;
  cc: string[];
  subject: string;
  created_at: string;
}

export interface Reply {
  status: number;
  body: unknown;
}

/** A fault to inject into the next matching calls (see POST /_control). */
export interface Fault {
  mode: 'fail' | 'hang' | 'delay';
  /** Calls it still applies to. */
  remaining: number;
  /** "POST /refunds" etc.; every route when absent. */
  route?: string;
  /** Status of a `fail` (default 503). */
  status: number;
  /** For `delay`: how long to wait before answering normally. */
  delay_ms: number;
  /** Perform the side effect (and remember the reply for its idempotency key) before failing or hanging. */
  after_effect: boolean;
}

export interface HelpdeskStats {
  /** Calls per route ("POST /refunds"), whatever their outcome. */
  calls: Record<string, number>;
  /** Side effects performed per idempotency key (a key seen twice but run once shows 1). */
  effects: Record<string, number>;
  /** Calls carrying each idempotency key. */
  calls_by_key: Record<string, number>;
  /** Replies replayed from the idempotency store per key. */
  replays: Record<string, number>;
  /** Side effects of writes that carried no idempotency key. */
  effects_without_key: number;
  /** Side effects in all. */
  effects_total: number;
  refunds: Refund[];
  notifications: Notification[];
  faults_pending: number;
  /** Tool calls by how their bearer token was accepted (minted per action, static), or refused (401). */
  credentials: { minted: number; static: number; refused: number };
}

interface StoredReply {
  fingerprint: string;
  reply: Reply;
}

type Write = (body: Record<string, unknown>, params: Record<string, string>) => Reply;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function problem(status: number, error: string, message: string, field?: string): Reply {
  return { status, body: { error, message, ...(field === undefined ? {} : { field }) } };
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export class Helpdesk {
  readonly #customers = new Map<string, Customer>();
  readonly #tickets = new Map<string, Ticket>();
  readonly #refunds = new Map<string, Refund>();
  readonly #notifications: Notification[] = [];
  readonly #idempotency = new Map<string, StoredReply>();
  readonly #faults: Fault[] = [];
  #exports = 0;
  readonly stats: HelpdeskStats = {
    calls: {},
    effects: {},
    calls_by_key: {},
    replays: {},
    effects_without_key: 0,
    effects_total: 0,
    refunds: [],
    notifications: [],
    faults_pending: 0,
    credentials: { minted: 0, static: 0, refused: 0 },
  };

  constructor(seed: Seed) {
    for (const customer of seed.customers) this.#customers.set(customer.id, { ...customer });
    for (const ticket of seed.tickets) this.#tickets.set(ticket.id, { ...ticket, tags: [...ticket.tags] });
  }

  countCall(route: string, key: string | undefined): void {
    increment(this.stats.calls, route);
    if (key !== undefined) increment(this.stats.calls_by_key, key);
  }

  countCredential(how: 'minted' | 'static' | 'refused'): void {
    this.stats.credentials[how] += 1;
  }

  snapshot(): HelpdeskStats {
    return structuredClone({
      ...this.stats,
      refunds: [...this.#refunds.values()],
      notifications: [...this.#notifications],
      faults_pending: this.#faults.reduce((n, f) => n + f.remaining, 0),
    });
  }

  addFault(input: unknown): Reply {
    if (!isRecord(input)) return problem(400, 'invalid_control', 'body must be a JSON object');
    if (input['reset'] === true) {
      this.#faults.length = 0;
      return { status: 200, body: { faults_pending: 0 } };
    }
    const mode = input['mode'];
    if (mode !== 'fail' && mode !== 'hang' && mode !== 'delay') return problem(400, 'invalid_control', 'mode must be fail, hang or delay', 'mode');
    const count = input['count'] ?? 1;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) return problem(400, 'invalid_control', 'count must be a positive integer', 'count');
    const route = input['route'];
    if (route !== undefined && typeof route !== 'string') return problem(400, 'invalid_control', 'route must be a string like "POST /refunds"', 'route');
    const status = input['status'] ?? 503;
    if (typeof status !== 'number' || status < 400 || status > 599) return problem(400, 'invalid_control', 'status must be 400..599', 'status');
    const delay = input['delay_ms'] ?? 0;
    if (typeof delay !== 'number' || delay < 0) return problem(400, 'invalid_control', 'delay_ms must be >= 0', 'delay_ms');
    this.#faults.push({
      mode,
      remaining: count,
      ...(route === undefined ? {} : { route }),
      status,
      delay_ms: delay,
      after_effect: input['after_effect'] === true,
    });
    return { status: 200, body: { faults_pending: this.#faults.reduce((n, f) => n + f.remaining, 0) } };
  }

  /** The fault that applies to this call (consumed), if any. */
  takeFault(route: string): Fault | undefined {
    const index = this.#faults.findIndex((fault) => fault.remaining > 0 && (fault.route === undefined || fault.route === route));
    if (index < 0) return undefined;
    const fault = this.#faults[index] as Fault;
    fault.remaining -= 1;
    if (fault.remaining === 0) this.#faults.splice(index, 1);
    return { ...fault };
  }

  // ---- reads

  listTickets(query: URLSearchParams): Reply {
    const status = query.get('status');
    const tag = query.get('tag');
    const limit = Number(query.get('limit') ?? '100');
    const tickets = [...this.#tickets.values()]
      .filter((t) => (status === null || t.status === status) && (tag === null || t.tags.includes(tag)))
      .slice(0, Number.isFinite(limit) && limit > 0 ? limit : 100);
    return { status: 200, body: { tickets } };
  }

  getTicket(id: string): Reply {
    const ticket = this.#tickets.get(id);
    return ticket === undefined ? problem(404, 'ticket_not_found', `no ticket ${id}`, 'ticket_id') : { status: 200, body: ticket };
  }

  getCustomer(id: string): Reply {
    const customer = this.#customers.get(id);
    return customer === undefined ? problem(404, 'customer_not_found', `no customer ${id}`, 'customer_id') : { status: 200, body: customer };
  }

  getRefund(id: string): Reply {
    const refund = this.#refunds.get(id);
    return refund === undefined ? problem(404, 'refund_not_found', `no refund ${id}`, 'refund_id') : { status: 200, body: refund };
  }

  listRefunds(): Reply {
    return { status: 200, body: { refunds: [...this.#refunds.values()] } };
  }

  // ---- writes: each returns the reply; the side effect happens only on 2xx

  readonly issueRefund: Write = (body) => {
    const ticketId = body['ticket_id'];
    const customerId = body['customer_id'];
    const amount = body['amount_cents'];
    const reason = body['reason'];
    if (typeof ticketId !== 'string') return problem(422, 'invalid_request', 'ticket_id is required', 'ticket_id');
    if (typeof customerId !== 'string') return problem(422, 'invalid_request', 'customer_id is required', 'customer_id');
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1) {
      return problem(422, 'invalid_request', 'amount_cents must be a positive integer', 'amount_cents');
    }
    if (typeof reason !== 'string' || reason === '') return problem(422, 'invalid_request', 'reason is required', 'reason');
    const ticket = this.#tickets.get(ticketId);
    if (ticket === undefined) return problem(404, 'ticket_not_found', `no ticket ${ticketId}`, 'ticket_id');
    const customer = this.#customers.get(customerId);
    if (customer === undefined) return problem(404, 'customer_not_found', `no customer ${customerId}`, 'customer_id');
    if (ticket.customer_id !== customerId) return problem(422, 'customer_mismatch', `ticket ${ticketId} belongs to another customer`, 'customer_id');
    const refund: Refund = {
      refund_id: `RF-${String(this.#refunds.size + 1).padStart(4, '0')}`,
      status: 'issued',
      ticket_id: ticketId,
      customer_id: customerId,
      amount_cents: amount,
      currency: typeof body['currency'] === 'string' ? body['currency'] : 'USD',
      reason,
      card_last4: customer.card_last4,
      created_at: new Date().toISOString(),
    };
    this.#refunds.set(refund.refund_id, refund);
    return { status: 201, body: refund };
  };

  readonly createExport: Write = (body) => {
    const rows = body['rows'];
    if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 1) return problem(422, 'invalid_request', 'rows must be a positive integer', 'rows');
    const format = body['format'] === 'json' ? 'json' : 'csv';
    this.#exports += 1;
    const sample = [...this.#customers.values()].slice(0, 3).map(({ id, name, email }) => ({ id, name, email }));
    return { status: 201, body: { export_id: `EX-${String(this.#exports).padStart(4, '0')}`, rows, format, sample } };
  };

  readonly sendNotification: Write = (body) => {
    const ticketId = body['ticket_id'];
    const to = body['to'];
    const cc = body['cc'] ?? [];
    const subject = body['subject'];
    const text = body['body'];
    if (typeof ticketId !== 'string') return problem(422, 'invalid_request', 'ticket_id is required', 'ticket_id');
    if (typeof to !== 'string' || !to.includes('@')) return problem(422, 'invalid_request', 'to must be an email address', 'to');
    if (!Array.isArray(cc) || !cc.every((item): item is string => typeof item === 'string')) {
      return problem(422, 'invalid_request', 'cc must be a list of email addresses', 'cc');
    }
    if (typeof subject !== 'string' || subject === '') return problem(422, 'invalid_request', 'subject is required', 'subject');
    if (typeof text !== 'string' || text === '') return problem(422, 'invalid_request', 'body is required', 'body');
    if (!this.#tickets.has(ticketId)) return problem(404, 'ticket_not_found', `no ticket ${ticketId}`, 'ticket_id');
    const notification: Notification = {
      notification_id: `NT-${String(this.#notifications.length + 1).padStart(4, '0')}`,
      status: 'sent',
      ticket_id: ticketId,
      to,
      cc,
      subject,
      created_at: new Date().toISOString(),
    };
    this.#notifications.push(notification);
    return { status: 201, body: { notification_id: notification.notification_id, status: notification.status } };
  };

  readonly deleteCustomer: Write = (_body, params) => {
    const id = params['id'] ?? '';
    if (!this.#customers.delete(id)) return problem(404, 'customer_not_found', `no customer ${id}`, 'customer_id');
    return { status: 200, body: { deleted: true, customer_id: id } };
  };

  /**
   * Runs a write at most once per idempotency key: the same key and request replays the stored
   * reply, the same key with another request is refused (422). A reply of 5xx is not stored.
   */
  write(route: string, key: string | undefined, rawBody: string, run: () => Reply): { reply: Reply; replayed: boolean } {
    if (key === undefined) {
      const reply = run();
      if (reply.status < 300) {
        this.stats.effects_without_key += 1;
        this.stats.effects_total += 1;
      }
      return { reply, replayed: false };
    }
    const fingerprint = createHash('sha256').update(`${route}\n${rawBody}`).digest('hex');
    const stored = this.#idempotency.get(key);
    if (stored !== undefined) {
      if (stored.fingerprint !== fingerprint) {
        return { reply: problem(422, 'idempotency_key_reused', 'this Idempotency-Key was used for another request'), replayed: false };
      }
      increment(this.stats.replays, key);
      return { reply: stored.reply, replayed: true };
    }
    const reply = run();
    if (reply.status < 300) {
      increment(this.stats.effects, key);
      this.stats.effects_total += 1;
    }
    if (reply.status < 500) this.#idempotency.set(key, { fingerprint, reply });
    return { reply, replayed: false };
  }
}
