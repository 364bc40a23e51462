import { env } from '@writ/config';
import type { ConfigOf } from '@writ/config';
import type { BaseConfig } from '@writ/runtime';

/** The policy service's variables (on top of WRIT_KAFKA_BROKERS, WRIT_HTTP_HOST, WRIT_HTTP_PORT, WRIT_LOG_FORMAT). */
export const policyConfigSpec = {
  /** Consumer group; the DLQ is `writ.policy.dlq` whatever the group. */
  WRIT_KAFKA_GROUP_ID: env.string({ default: 'writ.policy' }),
  /**
   * A Cedar policy folder (policies/README.md), published as the stream's first set when the stream
   * has none (WRIT_POLICY_BOOTSTRAP); once the stream has a set, the log's current set is in force and
   * the folder is only compared with it. An invalid folder stops the service at boot.
   */
  WRIT_POLICY_DIR: env.string({ default: 'policies' }),
  /**
   * When the service publishes WRIT_POLICY_DIR at boot: `empty` when the stream has no set; `differs`
   * whenever the folder differs from the stream's current set (the deployment's folder is the source
   * of truth, as in GitOps; the dev stack's choice); `never` (without a published set the PDP denies
   * everything).
   */
  WRIT_POLICY_BOOTSTRAP: env.oneOf(['empty', 'differs', 'never'], { default: 'empty' }),
  /** The policy stream this instance decides with: the PolicySetPublished events of writ.policysets.v1 with this name. */
  WRIT_POLICY_STREAM: env.name({ default: 'main' }),
  /** The tool registry: each proposal's tool version (resolved as the planner does), effect, risk and cost currency. */
  WRIT_TOOLS_DIR: env.string({ default: 'tools' }),
  /** Agents (role, owner) and users (approver roles). */
  WRIT_DIRECTORY_FILE: env.string({ default: 'deploy/demo/directory.json' }),
  /** PKCS#8 PEM of the Ed25519 key that signs warrants; its file name (without .pem) is the key id. */
  WRIT_POLICY_SIGNING_KEY: env.string({ default: '.local/keys/policy/private/warrant-1.pem' }),
  /** A warrant is void this long after the decision that issued it. */
  WRIT_POLICY_WARRANT_TTL_MS: env.int({ default: 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
  /** The tenants this instance serves (ids, or prefixes ending in `*`; unset: all): TenantFilter in @writ/config. */
  WRIT_POLICY_TENANTS: env.tenants(),
  /** How long the boot may take to rebuild its state from writ.proposals.v1, writ.actions.v1, writ.policy.v1 and writ.approvals.v1. */
  WRIT_POLICY_REPLAY_TIMEOUT_MS: env.int({ default: 120_000, min: 1_000, max: 3_600_000 }),
  /**
   * The rate window of the run statistics: a proposal's tool_calls_in_window counts the run's
   * proposals of the same tool whose occurred_at lies within this long before its own.
   */
  WRIT_POLICY_RATE_WINDOW_MS: env.int({ default: 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
  /**
   * How far back the PDP keeps decisions for the policies' history facts (@history): a set naming a
   * longer window is refused at publish. Memory grows with the actions decided in this horizon.
   */
  WRIT_POLICY_HISTORY_HORIZON_MS: env.int({ default: 24 * 60 * 60_000, min: 60_000, max: 31 * 24 * 60 * 60_000 }),
  /**
   * Approval notifications: `{"tenants": {"<tenant>": {"url": "https://...", "secret_env": "NAME"}}}`
   * (or `secret_file`). Unset: none are sent. An invalid file stops the service at boot.
   */
  WRIT_POLICY_WEBHOOKS_FILE: env.optionalString(),
  /** How often the pending approvals are looked at for an escalation now due (@approval_escalate_after), with webhooks on. */
  WRIT_POLICY_ESCALATION_CHECK_MS: env.int({ default: 5_000, min: 100, max: 600_000 }),
};

export type PolicyServiceConfig = BaseConfig & ConfigOf<typeof policyConfigSpec>;
