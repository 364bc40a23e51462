// The accountant's events on the wire (writ.budget.v1) and back. Every change to the books is
// published, so the books rebuild exactly from the topic: BudgetReserved, BudgetRefused,
// BudgetSettled (disposition settled | released | expired) and BudgetThresholdCrossed. LimitsSet
// and ReservationsForgotten stay internal: limits come from configuration and RunStarted, and
// forgetting is re-derived by the expiry timer.
import { lookup } from '@writ/decider';
import type { SigningKey } from '@writ/crypto';
import type { EventPayloads, Metadata } from '@writ/contracts';
import { issueReservation } from '@writ/contracts';
import type { BudgetEvent } from './events.ts';
import { evolveBudget } from './evolve.ts';
import { DEFAULT_SUBJECT, utcDay } from './model.ts';
import type { BudgetScope, BudgetState, ReservationRecord } from './model.ts';

export type BudgetWireEvent =
  | { readonly type: 'BudgetReserved'; readonly payload: EventPayloads['BudgetReserved'] }
  | { readonly type: 'BudgetRefused'; readonly payload: EventPayloads['BudgetRefused'] }
  | { readonly type: 'BudgetSettled'; readonly payload: EventPayloads['BudgetSettled'] }
  | { readonly type: 'BudgetThresholdCrossed'; readonly payload: EventPayloads['BudgetThresholdCrossed'] };

export const BUDGET_WIRE_TYPES: readonly BudgetWireEvent['type'][] = ['BudgetReserved', 'BudgetRefused', 'BudgetSettled', 'BudgetThresholdCrossed'];

/** What the service supplies: the envelope (producer, causation, trace) and the signing key. */
export interface WireContext {
  readonly tenant: string;
  /** The run and action of the input, for events that have none of their own (a release never requested, thresholds). */
  readonly run_id: string;
  readonly action_id: string | null;
  /** The tool of the reservation request (a signed claim); needed when a BudgetReserved is among the events. */
  readonly tool: string | null;
  readonly signingKey: SigningKey;
  readonly meta: (fields: { readonly run_id: string; readonly action_id: string | null; readonly occurred_at: number }) => Metadata;
}

function missingTool(): Error {
  return new Error('WireContext.tool is required to sign a reservation');
}

function closing(
  state: BudgetState,
  record: ReservationRecord | undefined,
  reservationId: string,
  disposition: 'released' | 'expired',
  releasedMicros: number,
  at: number,
  ctx: WireContext,
): BudgetWireEvent {
  return {
    type: 'BudgetSettled',
    payload: {
      meta: ctx.meta({ run_id: record?.run_id ?? ctx.run_id, action_id: reservationId, occurred_at: at }),
      reservation_id: reservationId,
      actual_cost_micros: 0,
      released_micros: releasedMicros,
      currency: state.currency ?? 'USD',
      disposition,
      agent_id: record?.agent_id ?? null,
      day: record?.day ?? null,
      reserved_micros: record?.amount_micros ?? 0,
      overrun_micros: 0,
      tool_calls: record?.tool_calls ?? 0,
      late: false,
    },
  };
}

/**
 * The wire events of the accountant's events, in order. `state` is the state before the first of
 * them (a release or expiry names what the reservation held). BudgetReserved is signed here.
 */
export function toWire(state: BudgetState, events: readonly BudgetEvent[], ctx: WireContext): BudgetWireEvent[] {
  const out: BudgetWireEvent[] = [];
  let before = state;
  for (const event of events) {
    switch (event.type) {
      case 'BudgetReserved': {
        // The reservation's own tool (what its tool budgets counted), else the request's.
        const tool = event.tool ?? ctx.tool;
        if (tool === null) throw missingTool();
        const signed = issueReservation(
          {
            reservation_id: event.reservation_id,
            action_id: event.reservation_id,
            tenant: ctx.tenant,
            run_id: event.run_id,
            agent: event.agent_id,
            tool,
            amount_micros: event.amount_micros,
            currency: event.currency,
            expires_at: event.expires_at,
          },
          ctx.signingKey,
        );
        out.push({
          type: 'BudgetReserved',
          payload: {
            meta: ctx.meta({ run_id: event.run_id, action_id: event.reservation_id, occurred_at: event.reserved_at }),
            ...signed,
            agent_id: event.agent_id,
            tool,
            tool_calls: event.tool_calls,
            day: event.day,
            approval_step: event.approval_step,
          },
        });
        break;
      }
      case 'BudgetRefused':
        out.push({
          type: 'BudgetRefused',
          payload: {
            meta: ctx.meta({ run_id: event.run_id, action_id: event.reservation_id, occurred_at: event.refused_at }),
            agent_id: event.agent_id,
            scope: event.scope,
            kind: event.kind,
            limit: event.limit,
            used: event.used,
            requested: event.requested,
            currency: event.currency,
            subject: event.subject,
            rule: event.rule,
            period: event.period,
            window_ms: event.window_ms,
          },
        });
        break;
      case 'BudgetSettled':
        out.push({
          type: 'BudgetSettled',
          payload: {
            meta: ctx.meta({ run_id: event.run_id, action_id: event.reservation_id, occurred_at: event.settled_at }),
            reservation_id: event.reservation_id,
            actual_cost_micros: event.actual_cost_micros,
            released_micros: event.released_micros,
            currency: event.currency,
            disposition: 'settled',
            agent_id: event.agent_id,
            day: event.day,
            reserved_micros: event.reserved_micros,
            overrun_micros: event.overrun_micros,
            tool_calls: event.tool_calls,
            late: event.late,
          },
        });
        break;
      case 'BudgetReleased':
        out.push(
          closing(before, lookup(before.reservations, event.reservation_id), event.reservation_id, 'released', event.released_micros, event.released_at, ctx),
        );
        break;
      case 'BudgetReservationExpired':
        out.push(
          closing(before, lookup(before.reservations, event.reservation_id), event.reservation_id, 'expired', event.released_micros, event.expired_at, ctx),
        );
        break;
      case 'BudgetThresholdCrossed':
        out.push({
          type: 'BudgetThresholdCrossed',
          payload: {
            meta: ctx.meta({ run_id: event.run_id, action_id: ctx.action_id, occurred_at: event.crossed_at }),
            agent_id: event.agent_id,
            scope: event.scope,
            kind: event.kind,
            threshold_percent: event.threshold_percent,
            used: event.used,
            limit: event.limit,
            currency: event.currency,
            subject: event.subject,
            period: event.period,
          },
        });
        break;
      case 'LimitsSet':
      case 'TimeZoneSet':
      case 'ReservationsForgotten':
        break;
      default:
        event satisfies never;
    }
    before = evolveBudget(before, event);
  }
  return out;
}

/**
 * The accountant's event that a published wire event records, for rebuilding the books; null when
 * it cannot be rebuilt (v1 data lacking the agent or day of a reservation). `state`: the books so far.
 */
export function fromWire(state: BudgetState, wire: BudgetWireEvent): BudgetEvent | null {
  const meta = wire.payload.meta;
  switch (wire.type) {
    case 'BudgetReserved': {
      const p = wire.payload;
      if (p.agent_id === null || p.day === null) return null;
      return {
        type: 'BudgetReserved',
        reservation_id: p.reservation_id,
        run_id: meta.run_id,
        agent_id: p.agent_id,
        tool: p.tool,
        day: p.day,
        amount_micros: p.amount_micros,
        tool_calls: p.tool_calls ?? 1,
        currency: p.currency,
        reserved_at: meta.occurred_at,
        expires_at: p.expires_at,
        approval_step: p.approval_step,
      };
    }
    case 'BudgetRefused': {
      const p = wire.payload;
      if (meta.action_id === null) return null;
      return {
        type: 'BudgetRefused',
        reservation_id: meta.action_id,
        run_id: meta.run_id,
        agent_id: p.agent_id,
        scope: p.scope,
        subject: p.subject ?? subjectOf(p.scope, meta.run_id, p.agent_id),
        window_ms: p.window_ms ?? null,
        period: p.period ?? legacyPeriod(p.scope, meta.occurred_at),
        rule: p.rule ?? 'cap',
        kind: p.kind,
        limit: p.limit,
        used: p.used,
        requested: p.requested,
        currency: p.currency,
        refused_at: meta.occurred_at,
      };
    }
    case 'BudgetSettled': {
      const p = wire.payload;
      const record = lookup(state.reservations, p.reservation_id);
      switch (p.disposition) {
        case 'settled': {
          if (record?.run_id == null || record.agent_id === null || record.day === null) return null;
          return {
            type: 'BudgetSettled',
            reservation_id: p.reservation_id,
            run_id: record.run_id,
            agent_id: record.agent_id,
            day: record.day,
            reserved_micros: record.amount_micros,
            actual_cost_micros: p.actual_cost_micros,
            released_micros: p.released_micros,
            overrun_micros: p.overrun_micros ?? Math.max(0, p.actual_cost_micros - record.amount_micros),
            tool_calls: p.tool_calls ?? record.tool_calls,
            currency: p.currency,
            late: p.late,
            settled_at: meta.occurred_at,
          };
        }
        case 'released':
          return {
            type: 'BudgetReleased',
            reservation_id: p.reservation_id,
            run_id: record?.run_id ?? null,
            agent_id: record?.agent_id ?? null,
            released_micros: p.released_micros,
            released_at: meta.occurred_at,
          };
        case 'expired':
          if (record?.run_id == null || record.agent_id === null) return null;
          return {
            type: 'BudgetReservationExpired',
            reservation_id: p.reservation_id,
            run_id: record.run_id,
            agent_id: record.agent_id,
            released_micros: p.released_micros,
            expired_at: meta.occurred_at,
          };
        default:
          return p.disposition satisfies never;
      }
    }
    case 'BudgetThresholdCrossed': {
      const p = wire.payload;
      return {
        type: 'BudgetThresholdCrossed',
        scope: p.scope,
        subject: p.subject ?? subjectOf(p.scope, meta.run_id, p.agent_id),
        period: p.period ?? legacyPeriod(p.scope, meta.occurred_at),
        kind: p.kind,
        threshold_percent: p.threshold_percent,
        used: p.used,
        limit: p.limit,
        currency: p.currency,
        run_id: meta.run_id,
        agent_id: p.agent_id,
        crossed_at: meta.occurred_at,
      };
    }
    default:
      return wire satisfies never;
  }
}

/** The subject of v1 data, which had only the run, agent_day and tenant_day scopes. */
function subjectOf(scope: BudgetScope, runId: string, agentId: string): string {
  return scope === 'run' ? runId : scope === 'agent_day' ? agentId : DEFAULT_SUBJECT;
}

/** The period of data of before the period was published: v1 knew runs and UTC days only. */
function legacyPeriod(scope: BudgetScope, at: number): string {
  return scope === 'run' ? 'run' : utcDay(at);
}

/**
 * Folds published wire events into the books (the rebuild at boot). Events that cannot be rebuilt
 * are skipped, and so are the topic's other events (a BudgetsConfigured announces limits, it moves no books).
 */
export function replayWire(state: BudgetState, wire: BudgetWireEvent): BudgetState {
  if (!(BUDGET_WIRE_TYPES as readonly string[]).includes(wire.type)) return state;
  const event = fromWire(state, wire);
  return event === null ? state : evolveBudget(state, event);
}
