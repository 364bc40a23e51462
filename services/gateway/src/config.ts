import { env } from '@writ/config';
import type { ConfigOf } from '@writ/config';
import type { BaseConfig } from '@writ/runtime';

/** The gateway's own variables, on top of WRIT_KAFKA_BROKERS, WRIT_HTTP_HOST, WRIT_HTTP_PORT, WRIT_LOG_FORMAT. */
export const gatewayConfigSpec = {
  /** Consumer group prefix; the read model uses `<WRIT_KAFKA_GROUP_ID>.<uuid>` (one per instance, from the beginning). */
  WRIT_KAFKA_GROUP_ID: env.string({ default: 'writ.gateway' }),
  /** The directory of agents and users with their hashed API keys (deploy/demo/directory.json for the demo). */
  WRIT_DIRECTORY_FILE: env.string(),
  /** The tool registry folder; arguments are validated against it before anything is emitted. */
  WRIT_TOOLS_DIR: env.string({ default: 'tools' }),
  /** Tenants' data keys (`<tenant>.key`): sensitive arguments are sealed with them; a missing key is created on first use. */
  WRIT_TENANT_KEYS_DIR: env.string({ default: '.local/keys/tenants' }),
  /** Terminal actions and ended runs are forgotten by the read model this long after their last change. */
  WRIT_GATEWAY_RETENTION_MS: env.int({ default: 24 * 3_600_000, min: 60_000 }),
  /** At boot, how long to wait for the read model to catch up with the topics before serving anyway. */
  WRIT_GATEWAY_CATCHUP_TIMEOUT_MS: env.int({ default: 30_000, min: 0, max: 600_000 }),
  /** How long a request waits for a run or action it names to reach the read model (another instance may have just created it). */
  WRIT_GATEWAY_SYNC_WAIT_MS: env.int({ default: 2_000, min: 0, max: 30_000 }),
  /** Most requests waiting at once (long-polls and sync waits); more get 503. */
  WRIT_GATEWAY_MAX_WAITERS: env.int({ default: 10_000, min: 1, max: 1_000_000 }),
  /** Automatic safe mode's thresholds per tenant and agent (docs/configuration.md); unset: no automatic safe mode. */
  WRIT_GATEWAY_SAFE_MODE_FILE: env.optionalString(),
  /** Tenants' webhooks (the policy service's format): told `safe_mode.tripped` when a subject is switched to read-only automatically. */
  WRIT_GATEWAY_WEBHOOKS_FILE: env.optionalString(),
  /** The operator console's built bundle, served under /console; unset: libs/console-ui/dist of this checkout. */
  WRIT_CONSOLE_DIR: env.optionalString(),
  /** The ledger's HTTP door (e.g. http://127.0.0.1:26085): the console's spend charts and chains are read there with the person's own key; unset: those views say so. */
  WRIT_CONSOLE_LEDGER_URL: env.optionalString(),
};

export type GatewayConfig = BaseConfig & ConfigOf<typeof gatewayConfigSpec>;

/** Nest injection tokens of the gateway. */
export const DIRECTORY = Symbol('DIRECTORY');
export const TOOL_REGISTRY = Symbol('TOOL_REGISTRY');
/** The service's version (package.json), for `producer` = gateway@<version>. */
export const GATEWAY_VERSION = Symbol('GATEWAY_VERSION');
