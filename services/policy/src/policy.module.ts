import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Directory } from '@writ/directory';
import { describeError } from '@writ/errors';
import { escalationDue, notificationOfEscalation } from '@writ/policy-service-core';
import { BearerGuard, DirectoryCloser, SERVICE_CONFIG, SERVICE_DIRECTORY, busLoggerOf, directoryProvider, loadWebhooks, packageVersion } from '@writ/runtime';
import type { WebhookNotifier } from '@writ/runtime';
import type { ApprovalNotification } from '@writ/policy-service-core';
import type { PolicyServiceConfig } from './config.ts';
import { DecideController } from './decide.controller.ts';
import { PDP_SETUP, POLICY_DLQ, POLICY_SETS, PdpEngine } from './pdp.engine.ts';
import { approvalNotifier } from './notifier.ts';
import { PolicySets } from './policy-sets.ts';
import { PolicySetsController } from './policy-sets.controller.ts';
import { loadPdpSetup } from './setup.ts';

/**
 * Sends approval notifications to the tenants' webhooks when WRIT_POLICY_WEBHOOKS_FILE is set: the
 * notifier's own consumer for requests, decisions and expiries; and every
 * WRIT_POLICY_ESCALATION_CHECK_MS a look at the PDP's pending actions for escalations now due
 * (sent once per action by this instance; a failed delivery is tried again at the next look).
 */
@Injectable()
class Notifications implements OnModuleInit, OnApplicationShutdown {
  readonly #notifier: WebhookNotifier<ApprovalNotification> | undefined;
  readonly #logger = new Logger('policy.notify');
  readonly #escalated = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PolicyServiceConfig,
    // Resolved when first needed, not injected: the notifier's consumer starts (at the end of its
    // topics) without waiting for the PDP's boot, so nothing the PDP decides after it is missed.
    @Inject(ModuleRef) private readonly modules: ModuleRef,
    @Inject(POLICY_SETS) private readonly policySets: PolicySets,
  ) {
    const file = config.WRIT_POLICY_WEBHOOKS_FILE;
    this.#notifier =
      file === undefined
        ? undefined
        : approvalNotifier({
            brokers: config.WRIT_KAFKA_BROKERS,
            groupId: config.WRIT_KAFKA_GROUP_ID,
            hooks: loadWebhooks(file),
            tenants: config.WRIT_POLICY_TENANTS,
            dlqTopic: POLICY_DLQ,
            logger: busLoggerOf(new Logger('policy.notify')),
          });
  }

  async onModuleInit(): Promise<void> {
    if (this.#notifier === undefined) return;
    await this.#notifier.start();
    this.#timer = setInterval(() => void this.#checkEscalations(), this.config.WRIT_POLICY_ESCALATION_CHECK_MS);
    this.#timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.#timer);
    await this.#notifier?.stop();
  }

  async #checkEscalations(): Promise<void> {
    const notifier = this.#notifier;
    if (notifier === undefined || this.#checking) return;
    this.#checking = true;
    try {
      const env = { decisionPoint: this.policySets.decisionPoint, now: Date.now() };
      const pending = new Set<string>();
      for (const [actionId, record] of this.modules.get(PdpEngine, { strict: false }).state.actions) {
        const due = escalationDue(record, env);
        const action = record.proposed;
        if (due === undefined || action === undefined || record.pending_policy === null) continue;
        pending.add(actionId);
        if (this.#escalated.has(actionId)) continue;
        const notification = notificationOfEscalation({
          tenant: action.tenant,
          run_id: action.run_id,
          action_id: actionId,
          tool: action.tool,
          agent: action.agent_id,
          policy: record.pending_policy,
          roles: due.roles,
          afterMs: due.afterMs,
          since: due.since,
        });
        try {
          await notifier.send(notification);
          this.#escalated.add(actionId);
        } catch (error) {
          this.#logger.warn(
            `escalation of action ${actionId} not delivered, tried again in ${this.config.WRIT_POLICY_ESCALATION_CHECK_MS} ms: ${describeError(error)}`,
          );
        }
      }
      // Forget the actions no longer waiting: the set stays as small as the approval queue.
      for (const actionId of this.#escalated) if (!pending.has(actionId)) this.#escalated.delete(actionId);
    } finally {
      this.#checking = false;
    }
  }
}

/** The policy service: policy decision point: Cedar decisions, approvals and warrants. */
@Module({
  controllers: [DecideController, PolicySetsController],
  providers: [
    directoryProvider(),
    DirectoryCloser,
    BearerGuard,
    {
      provide: POLICY_SETS,
      inject: [SERVICE_CONFIG],
      useFactory: (config: PolicyServiceConfig) =>
        new PolicySets({
          brokers: config.WRIT_KAFKA_BROKERS,
          groupId: config.WRIT_KAFKA_GROUP_ID,
          stream: config.WRIT_POLICY_STREAM,
          bootstrapDir: config.WRIT_POLICY_DIR,
          bootstrap: config.WRIT_POLICY_BOOTSTRAP,
          producer: `policy@${packageVersion(import.meta.url)}`,
          instance: `policy/${config.WRIT_INSTANCE_ID}`,
          dlqTopic: POLICY_DLQ,
          catchUpTimeoutMs: config.WRIT_POLICY_REPLAY_TIMEOUT_MS,
          historyHorizonMs: config.WRIT_POLICY_HISTORY_HORIZON_MS,
          logger: busLoggerOf(new Logger('policy')),
        }),
    },
    {
      provide: PDP_SETUP,
      inject: [SERVICE_CONFIG, POLICY_SETS, SERVICE_DIRECTORY],
      useFactory: (config: PolicyServiceConfig, sets: PolicySets, directory: Directory) => loadPdpSetup(config, sets, directory),
    },
    PdpEngine,
    Notifications,
  ],
  exports: [PdpEngine],
})
export class PolicyModule {}
