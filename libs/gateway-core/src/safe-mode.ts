// Automatic safe mode: the gateway counts, per agent and per tenant, how the live actions of a
// rolling window ended (completed, failed, denied) and what they cost, and switches a subject to
// read-only (safe_mode `agent:<id>` or `*` of the tenant) when its error rate, denial rate or spend
// crosses the trigger of the safe-mode file. A person lifts it (PUT .../safe-mode enabled=false);
// from then on only actions completed after the lift count. Pure: the clock comes in as `now`.
import type { ActionStatus, ControlChanged } from '@writ/contracts';
import { microsToMoney, nameBasedUuid } from '@writ/contracts';
import { decodeControl, encodeControl } from '@writ/tools';
import type { ControlSetting } from '@writ/tools';
import type { Stamp } from './commands.ts';
import { agentTrigger } from './safe-mode-file.ts';
import type { SafeModeFile, SafeModeTrigger } from './safe-mode-file.ts';

/** Who sets an automatic safe mode: a reserved name, never a directory principal's id. */
export const AUTO_SAFE_MODE_PRINCIPAL = 'writ:auto-safe-mode';

/** One ended action as the watch counts it. */
export interface CompletedAction {
  readonly tenant: string;
  readonly agent: string;
  readonly status: ActionStatus;
  readonly cost_micros: number;
  readonly currency: string;
  /** When it ended (ActionCompleted.meta.occurred_at). */
  readonly at: number;
  /** An action of a shadow run: never counted (it executes nothing). */
  readonly shadow: boolean;
  /** ActionCompleted.reason: a failure the executor's controls caused ("SAFE_MODE: ...") is not the agent's error. */
  readonly reason: string | null;
}

/**
 * Failures that are a control's refusal, not the agent's or the tool's error: the planner writes
 * an execution failure's reason as `<executor error code>: <message>`. Counting them would trip
 * every agent of a tenant in safe mode, and trip an agent again for calls its own safe mode refused.
 */
const CONTROL_REFUSALS = ['SAFE_MODE:', 'TOOL_KILL_SWITCH:', 'AGENT_KILL_SWITCH:'];

function refusedByControl(action: CompletedAction): boolean {
  return action.status === 'failed' && action.reason !== null && CONTROL_REFUSALS.some((prefix) => action.reason?.startsWith(prefix) === true);
}

export type TripTrigger = 'error_rate' | 'denial_rate' | 'spend';

/** A decision to switch one subject to read-only, with the figures that made it. */
export interface SafeModeTrip {
  readonly tenant: string;
  /** The agent, or null for the tenant as a whole. */
  readonly agent: string | null;
  readonly trigger: TripTrigger;
  readonly window: string;
  readonly window_ms: number;
  /** Counted actions in the window (completed + failed + denied). */
  readonly actions: number;
  readonly failed: number;
  readonly denied: number;
  readonly spent_micros: number;
  readonly currency: string;
  /** The crossed threshold: a percentage, or micro-units for spend. */
  readonly threshold: number;
  /** The last lift (or manual change) of this subject's safe mode that the count starts after; 0: never. */
  readonly counted_after: number;
  readonly decided_at: number;
  /** Says why, with the figures. */
  readonly reason: string;
}

interface Tally {
  actions: number;
  failed: number;
  denied: number;
  spent: number;
}

/** The window of one subject, in buckets of 1/60 of its length (the count is exact to one bucket at the window's old end). */
class RollingTally {
  readonly #bucketMs: number;
  readonly #buckets = new Map<number, Tally>();

  constructor(readonly trigger: SafeModeTrigger) {
    this.#bucketMs = Math.max(1_000, Math.ceil(trigger.window_ms / 60));
  }

  add(action: CompletedAction, countsMoney: boolean): void {
    const index = Math.floor(action.at / this.#bucketMs);
    const tally = this.#buckets.get(index) ?? { actions: 0, failed: 0, denied: 0, spent: 0 };
    if (action.status === 'completed' || action.status === 'failed' || action.status === 'denied') tally.actions += 1;
    if (action.status === 'failed') tally.failed += 1;
    if (action.status === 'denied') tally.denied += 1;
    if (countsMoney) tally.spent += action.cost_micros;
    this.#buckets.set(index, tally);
  }

  /** Drops the buckets wholly before `now - window`; true when nothing is left. */
  prune(now: number): boolean {
    const oldest = Math.floor((now - this.trigger.window_ms) / this.#bucketMs);
    for (const index of this.#buckets.keys()) if (index < oldest) this.#buckets.delete(index);
    return this.#buckets.size === 0;
  }

  sum(now: number): Tally {
    this.prune(now);
    const total = { actions: 0, failed: 0, denied: 0, spent: 0 };
    for (const tally of this.#buckets.values()) {
      total.actions += tally.actions;
      total.failed += tally.failed;
      total.denied += tally.denied;
      total.spent += tally.spent;
    }
    return total;
  }
}

interface SubjectState {
  /** Safe mode is on (read from the controls topic, or tripped here and not yet read back). */
  on: boolean;
  /** Only actions that ended after this instant count: the subject's last safe-mode change. */
  after: number;
  tally: RollingTally | undefined;
}

/** The key of a subject: `<tenant>/agent:<id>` or `<tenant>/*`. */
function subjectKey(tenant: string, agent: string | null): string {
  return agent === null ? `${tenant}/*` : `${tenant}/agent:${agent}`;
}

function settingOf(tenant: string, agent: string | null): ControlSetting {
  return { scope: tenant, control: 'safe_mode', subject: agent === null ? { kind: 'all' } : { kind: 'agent', agent } };
}

/** 60 / 100 -> "60"; 2 / 3 -> "66.7". */
function percentText(part: number, whole: number): string {
  const tenths = Math.floor((part * 1000) / whole);
  return tenths % 10 === 0 ? String(tenths / 10) : (tenths / 10).toFixed(1);
}

function reasonOf(trip: Omit<SafeModeTrip, 'reason'>): string {
  const window = `in the last ${trip.window}${trip.counted_after > 0 ? ' since safe mode was last lifted' : ''}`;
  switch (trip.trigger) {
    case 'error_rate':
      return `automatic: ${trip.failed} of ${trip.actions} actions failed ${window} (${percentText(trip.failed, trip.actions)} % ≥ ${trip.threshold} %)`;
    case 'denial_rate':
      return `automatic: ${trip.denied} of ${trip.actions} actions were denied ${window} (${percentText(trip.denied, trip.actions)} % ≥ ${trip.threshold} %)`;
    case 'spend':
      return `automatic: ${microsToMoney(trip.spent_micros)} ${trip.currency} spent ${window} (≥ ${microsToMoney(trip.threshold)} ${trip.currency})`;
  }
}

/**
 * Per tenant and agent, the rolling counts of live actions and the subject's safe-mode state, from
 * the ActionCompleted and ControlChanged the gateway reads; `decide` says which subjects trip now.
 * A subject it trips counts as in safe mode at once (the ControlChanged read back confirms it), so
 * one instance trips a subject once per lift.
 */
export class SafeModeWatch {
  readonly #file: SafeModeFile;
  readonly #subjects = new Map<string, SubjectState>();

  constructor(file: SafeModeFile) {
    this.#file = file;
  }

  #state(key: string): SubjectState {
    let state = this.#subjects.get(key);
    if (state === undefined) {
      state = { on: false, after: 0, tally: undefined };
      this.#subjects.set(key, state);
    }
    return state;
  }

  /** Counts one ended action for its agent and its tenant, where they have a trigger. */
  record(action: CompletedAction): void {
    if (action.shadow || refusedByControl(action)) return;
    const config = this.#file.tenants.get(action.tenant);
    if (config === undefined) return;
    const countsMoney = action.currency === config.currency;
    const subjects: [string | null, SafeModeTrigger | undefined][] = [
      [action.agent, agentTrigger(this.#file, action.tenant, action.agent)],
      [null, config.tenant ?? undefined],
    ];
    for (const [agent, trigger] of subjects) {
      if (trigger === undefined) continue;
      const state = this.#state(subjectKey(action.tenant, agent));
      if (state.on || action.at <= state.after) continue;
      state.tally ??= new RollingTally(trigger);
      state.tally.add(action, countsMoney);
    }
  }

  /**
   * Follows the safe-mode controls of tenants (not the platform's): on or off, and the instant of
   * the last change, after which the count starts again. Other controls are ignored.
   */
  observeControl(event: ControlChanged): void {
    const setting = decodeControl(event);
    if (setting?.control !== 'safe_mode' || setting.subject.kind === 'tool' || !this.#file.tenants.has(setting.scope)) return;
    const state = this.#state(subjectKey(setting.scope, setting.subject.kind === 'agent' ? setting.subject.agent : null));
    state.on = event.enabled;
    state.after = Math.max(state.after, event.meta.occurred_at);
    state.tally = undefined;
  }

  /** Whether the watch has this subject in safe mode. */
  isOn(tenant: string, agent: string | null): boolean {
    return this.#subjects.get(subjectKey(tenant, agent))?.on ?? false;
  }

  /** The trips of this agent and its tenant now (each subject trips on its first crossed threshold: errors, denials, spend). */
  decide(tenant: string, agent: string, now: number): SafeModeTrip[] {
    return [this.#decideOne(tenant, agent, now), this.#decideOne(tenant, null, now)].filter((trip) => trip !== undefined);
  }

  /** The trips of every subject counted so far (after a boot's catch-up). */
  decideAll(now: number): SafeModeTrip[] {
    const trips: SafeModeTrip[] = [];
    for (const key of [...this.#subjects.keys()]) {
      const slash = key.indexOf('/');
      const tenant = key.slice(0, slash);
      const subject = key.slice(slash + 1);
      const trip = this.#decideOne(tenant, subject === '*' ? null : subject.slice('agent:'.length), now);
      if (trip !== undefined) trips.push(trip);
    }
    return trips;
  }

  /** A trip that could not be published: the subject counts as off again (its counts are kept), so a later action decides again. */
  abandon(trip: SafeModeTrip): void {
    const state = this.#subjects.get(subjectKey(trip.tenant, trip.agent));
    if (state !== undefined && state.after <= trip.counted_after) state.on = false;
  }

  /** Forgets the counts older than their windows; subjects with nothing left and no safe-mode history go. */
  prune(now: number): void {
    for (const [key, state] of this.#subjects) {
      if (state.tally?.prune(now) === true) state.tally = undefined;
      if (state.tally === undefined && !state.on && state.after === 0) this.#subjects.delete(key);
    }
  }

  get size(): number {
    return this.#subjects.size;
  }

  #decideOne(tenant: string, agent: string | null, now: number): SafeModeTrip | undefined {
    const state = this.#subjects.get(subjectKey(tenant, agent));
    const tally = state?.tally;
    if (state === undefined || state.on || tally === undefined) return undefined;
    const { trigger } = tally;
    const counts = tally.sum(now);
    const base = {
      tenant,
      agent,
      window: trigger.window,
      window_ms: trigger.window_ms,
      actions: counts.actions,
      failed: counts.failed,
      denied: counts.denied,
      spent_micros: counts.spent,
      currency: this.#file.tenants.get(tenant)?.currency ?? 'USD',
      counted_after: state.after,
      decided_at: now,
    };
    let crossed: { trigger: TripTrigger; threshold: number } | undefined;
    const enough = counts.actions >= trigger.min_actions;
    if (enough && trigger.error_rate_percent !== null && counts.failed * 100 >= trigger.error_rate_percent * counts.actions)
      crossed = { trigger: 'error_rate', threshold: trigger.error_rate_percent };
    else if (enough && trigger.denial_rate_percent !== null && counts.denied * 100 >= trigger.denial_rate_percent * counts.actions)
      crossed = { trigger: 'denial_rate', threshold: trigger.denial_rate_percent };
    else if (trigger.spend_micros !== null && counts.spent >= trigger.spend_micros) crossed = { trigger: 'spend', threshold: trigger.spend_micros };
    if (crossed === undefined) return undefined;
    state.on = true;
    const trip = { ...base, ...crossed };
    return { ...trip, reason: reasonOf(trip) };
  }
}

/** The figures of a trip as the ControlChanged carries them in `value` (JSON), for the webhook and readers. */
export interface SafeModeFigures {
  readonly trigger: TripTrigger;
  readonly window: string;
  readonly window_ms: number;
  readonly actions: number;
  readonly failed: number;
  readonly denied: number;
  readonly spent: string;
  readonly currency: string;
  /** "50" (percent) or "20.00" (money). */
  readonly threshold: string;
  /** ISO 8601 of the lift the count started after; null: never lifted. */
  readonly counted_after: string | null;
}

export function figuresOf(trip: SafeModeTrip): SafeModeFigures {
  return {
    trigger: trip.trigger,
    window: trip.window,
    window_ms: trip.window_ms,
    actions: trip.actions,
    failed: trip.failed,
    denied: trip.denied,
    spent: microsToMoney(trip.spent_micros),
    currency: trip.currency,
    threshold: trip.trigger === 'spend' ? microsToMoney(trip.threshold) : String(trip.threshold),
    counted_after: trip.counted_after === 0 ? null : new Date(trip.counted_after).toISOString(),
  };
}

/**
 * The id of a trip's ControlChanged: the same for every gateway instance that trips this subject
 * after the same lift (a UUID from the sha256 of the control key and the lift's instant), so the
 * ledger chains one of two simultaneous trips (it skips an event id it chained) and a webhook
 * receiver drops the second delivery.
 */
export function tripEventId(trip: Pick<SafeModeTrip, 'tenant' | 'agent' | 'counted_after'>): string {
  const { control_key } = encodeControl(settingOf(trip.tenant, trip.agent));
  return nameBasedUuid([AUTO_SAFE_MODE_PRINCIPAL, control_key, trip.counted_after]);
}

/** The ControlChanged that switches a tripped subject to read-only, set by AUTO_SAFE_MODE_PRINCIPAL with the reason and figures. */
export function safeModeTripEvent(trip: SafeModeTrip, stamp: Stamp): ControlChanged {
  const id = tripEventId(trip);
  const meta = stamp.newMetadata({ tenant_id: trip.tenant, run_id: id, producer: stamp.producer, trace: stamp.trace, occurred_at: trip.decided_at });
  return {
    meta: { ...meta, event_id: id },
    ...encodeControl(settingOf(trip.tenant, trip.agent)),
    enabled: true,
    value: JSON.stringify(figuresOf(trip)),
    reason: trip.reason,
    set_by: AUTO_SAFE_MODE_PRINCIPAL,
  };
}

/** What a tenant's webhook is told when the gateway switched one of its subjects to read-only. */
export interface SafeModeNotification {
  /** A chat message as is (Slack, Mattermost and Teams incoming webhooks read `text`). */
  readonly text: string;
  readonly event: 'safe_mode.tripped';
  /** The ControlChanged's id (the same for simultaneous trips of several gateways): a receiver drops a repeat by it. */
  readonly id: string;
  readonly tenant: string;
  readonly control_key: string;
  /** "agent" or "tenant". */
  readonly subject: 'agent' | 'tenant';
  readonly agent: string | null;
  readonly reason: string;
  readonly figures: SafeModeFigures | null;
  readonly occurred_at: string;
}

/** The notification of an automatic trip, or undefined for any other control (a person's, a lift, a kill switch). */
export function safeModeNotification(event: ControlChanged): SafeModeNotification | undefined {
  const setting = decodeControl(event);
  if (setting?.control !== 'safe_mode' || !event.enabled || event.set_by !== AUTO_SAFE_MODE_PRINCIPAL || setting.subject.kind === 'tool') return undefined;
  let figures: SafeModeFigures | null = null;
  try {
    figures = event.value === null ? null : (JSON.parse(event.value) as SafeModeFigures);
  } catch {
    figures = null;
  }
  const agent = setting.subject.kind === 'agent' ? setting.subject.agent : null;
  const whom = agent === null ? `tenant ${setting.scope}` : `agent ${agent} of ${setting.scope}`;
  return {
    text: `${whom} is now read-only (safe mode): ${event.reason}. A person lifts it: PUT /v1/controls/${agent === null ? '' : `agents/${agent}/`}safe-mode {"enabled": false, "reason": "..."}`,
    event: 'safe_mode.tripped',
    id: event.meta.event_id,
    tenant: setting.scope,
    control_key: encodeControl(setting).control_key,
    subject: agent === null ? 'tenant' : 'agent',
    agent,
    reason: event.reason,
    figures,
    occurred_at: new Date(event.meta.occurred_at).toISOString(),
  };
}
