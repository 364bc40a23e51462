// Automatic safe mode (WRIT_GATEWAY_SAFE_MODE_FILE): the gateway, the one producer of
// ControlChanged, follows the ended actions and the controls its read model reads, and switches an
// agent or a tenant to read-only when its error rate, denial rate or spend crosses its trigger
// (the decisions: SafeModeWatch in @writ/gateway-core). Every instance reads everything, so two
// may trip a subject at the same moment: both write the same control, on, with the same event id
// (harmless: one key, one state; the ledger chains one). The tenant's webhook hears of a trip from
// a consumer group shared by the instances (WRIT_GATEWAY_WEBHOOKS_FILE), at least once.
import { readFileSync } from 'node:fs';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { DecodedEvent } from '@writ/bus';
import { TOPICS } from '@writ/contracts';
import type { ControlChanged } from '@writ/contracts';
import { describeError } from '@writ/errors';
import { SafeModeWatch, isTerminalStatus, parseSafeModeFile, safeModeNotification, safeModeTripEvent } from '@writ/gateway-core';
import type { ActionState, CompletedAction, ReadModelChange, SafeModeNotification, SafeModeTrip } from '@writ/gateway-core';
import { SERVICE_CONFIG, WebhookNotifier, busLoggerOf, loadWebhooks } from '@writ/runtime';
import { WRIT_METRIC, writCounter } from '@writ/telemetry';
import type { GatewayConfig } from './config.ts';
import { GatewayBus } from './gateway-bus.ts';
import type { GatewayBusObserver } from './gateway-bus.ts';

const PRUNE_INTERVAL_MS = 60_000;

/** An ended action whose agent is known (its proposal was read) as the watch counts it; undefined before. */
function completedAction(state: ActionState | undefined): CompletedAction | undefined {
  if (state === undefined || state.agent_id === null || state.completed_at === null || !isTerminalStatus(state.status)) return undefined;
  return {
    tenant: state.tenant_id,
    agent: state.agent_id,
    status: state.status,
    cost_micros: state.cost_micros ?? 0,
    currency: state.currency ?? '',
    at: state.completed_at,
    shadow: state.run_mode === 'shadow' || (state.reason_code?.startsWith('SHADOW_') ?? false),
    reason: state.reason,
  };
}

/** Follows the read model and trips subjects once the boot's replay is read (before, a lift not yet read could be missed). */
@Injectable()
export class AutoSafeMode implements GatewayBusObserver, OnApplicationBootstrap, OnApplicationShutdown {
  readonly #logger = new Logger('AutoSafeMode');
  readonly #watch: SafeModeWatch | undefined;
  #deciding = false;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    @Inject(SERVICE_CONFIG) config: GatewayConfig,
    @Inject(GatewayBus) private readonly bus: GatewayBus,
  ) {
    const file = config.WRIT_GATEWAY_SAFE_MODE_FILE;
    if (file === undefined) return;
    this.#watch = new SafeModeWatch(parseSafeModeFile(readFileSync(file, 'utf8')));
    bus.observe(this);
  }

  /** After every module's init: the read model caught up (or gave up waiting), so decide now on what was read. */
  onApplicationBootstrap(): void {
    if (this.#watch === undefined) return;
    this.#deciding = true;
    this.#publish(this.#watch.decideAll(Date.now()));
    this.#pruneTimer = setInterval(() => this.#watch?.prune(Date.now()), PRUNE_INTERVAL_MS);
    this.#pruneTimer.unref();
  }

  onApplicationShutdown(): void {
    if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
  }

  onControl(control: ControlChanged): void {
    this.#watch?.observeControl(control);
  }

  onChange(change: ReadModelChange): void {
    const watch = this.#watch;
    if (watch === undefined || change.kind !== 'action') return;
    // Counted once: when the action has ended and its agent is known, whichever came last.
    const action = completedAction(change.after);
    if (action === undefined || completedAction(change.before) !== undefined) return;
    watch.record(action);
    if (this.#deciding) this.#publish(watch.decide(action.tenant, action.agent, Date.now()));
  }

  #publish(trips: readonly SafeModeTrip[]): void {
    for (const trip of trips) {
      const event = safeModeTripEvent(trip, this.bus.stamp(null));
      void this.bus.emit('ControlChanged', event).then(
        () => {
          // Counted once the control is on the log; a trip that could not be published is abandoned, and not counted.
          writCounter(WRIT_METRIC.gatewaySafeModeTrips).add(1, {
            tenant: trip.tenant,
            subject: trip.agent === null ? 'tenant' : 'agent',
            trigger: trip.trigger,
          });
          this.#logger.warn(`safe mode switched on for ${event.control_key}: ${trip.reason}`);
        },
        (error: unknown) => {
          this.#watch?.abandon(trip);
          this.#logger.error(`could not switch safe mode on for ${event.control_key} (${trip.reason}): ${describeError(error)}`);
        },
      );
    }
  }
}

/** The tenant's webhook is told of its automatic trips (`safe_mode.tripped`, the reason and the figures): the gateway's own controls only (the topic's ACLs let no one else write it). */
function safeModeNotificationOf(event: DecodedEvent): SafeModeNotification | undefined {
  if (event.type !== 'ControlChanged' || !event.payload.meta.producer.startsWith('gateway@')) return undefined;
  return safeModeNotification(event.payload);
}

/** Runs the notifier when both WRIT_GATEWAY_SAFE_MODE_FILE and WRIT_GATEWAY_WEBHOOKS_FILE are set. */
@Injectable()
export class SafeModeNotifications implements OnModuleInit, OnApplicationShutdown {
  #notifier: WebhookNotifier<SafeModeNotification> | undefined;

  constructor(@Inject(SERVICE_CONFIG) private readonly config: GatewayConfig) {}

  async onModuleInit(): Promise<void> {
    const file = this.config.WRIT_GATEWAY_WEBHOOKS_FILE;
    if (file === undefined || this.config.WRIT_GATEWAY_SAFE_MODE_FILE === undefined) return;
    // A consumer group shared by the gateway instances reads the controls topic, so one instance
    // delivers each trip. Two simultaneous trips carry one event id: an instance delivers it once,
    // and a receiver drops a repeat by `x-writ-delivery`.
    this.#notifier = new WebhookNotifier({
      name: 'safe-mode',
      brokers: this.config.WRIT_KAFKA_BROKERS,
      groupId: this.config.WRIT_KAFKA_GROUP_ID,
      topics: [TOPICS.controls],
      dlqTopic: 'writ.gateway.dlq',
      hooks: loadWebhooks(file),
      notificationOf: safeModeNotificationOf,
      logger: busLoggerOf(new Logger('gateway.notify')),
    });
    await this.#notifier.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#notifier?.stop();
  }
}
