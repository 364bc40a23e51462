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
  /** The policy stream (the PDP's WRIT_POLICY_STREAM) whose current set hides, from the MCP door's tools/list, the tools it denies an agent outright. */
  WRIT_POLICY_STREAM: env.name({ default: 'main' }),
  /** The ledger's HTTP door (e.g. http://127.0.0.1:26085): the console's spend charts and chains are read there with the person's own key; unset: those views say so. */
  WRIT_CONSOLE_LEDGER_URL: env.optionalString(),
  /** Where the console links an action's trace: a URL with {trace_id} in it (e.g. https://tempo.example/trace/{trace_id}); unset: the trace id is shown as text to copy. */
  WRIT_CONSOLE_TRACE_URL: env.optionalString(),
  /** Live streams (GET /v1/console/stream) one API key may hold open at once; one more is 429. */
  WRIT_CONSOLE_STREAM_MAX_PER_KEY: env.int({ default: 4, min: 1, max: 100 }),
  /** How often an open console stream gets a heartbeat comment (keeps proxies from closing it, tells the console it is alive). */
  WRIT_CONSOLE_STREAM_HEARTBEAT_MS: env.int({ default: 15_000, min: 1_000, max: 300_000 }),
  /** The Kafka door (docs/kafka-door.md): read the agents' proposals topics (writ.door.<principal>.proposals.v1) and answer on their outcomes topics. */
  WRIT_GATEWAY_KAFKA_DOOR: env.bool({ default: true }),
  /** The models file of the model proxy (docs/model-proxy.md); unset: POST /v1/chat/completions answers 503. Its models must be in WRIT_TOOLS_DIR. */
  WRIT_MODELS_FILE: env.optionalString(),
  /** The executor's HTTP door (e.g. http://127.0.0.1:26084): model calls' request bodies are handed to it, and their answers relayed from it. */
  WRIT_GATEWAY_EXECUTOR_URL: env.optionalString(),
  /** The bearer token of the executor's model door (the executor's WRIT_MODEL_DOOR_TOKEN). */
  WRIT_MODEL_DOOR_TOKEN: env.optionalString(),
  /**
   * How long a model call waits to be decided, reserved and executed, a person's approval included
   * (then 403 APPROVAL_REQUIRED, or 503). The executor holds the request as long: keep it within its
   * WRIT_EXECUTOR_MODEL_PARK_MS.
   */
  WRIT_MODEL_DECISION_WAIT_MS: env.int({ default: 60_000, min: 1_000, max: 600_000 }),
  /**
   * The most model calls this gateway holds at once (each has its body parked at the executor);
   * one more is answered 429 MODEL_CALLS_EXCEEDED at once, with Retry-After, instead of queueing.
   */
  WRIT_MODEL_MAX_IN_FLIGHT: env.int({ default: 256, min: 1, max: 10_000 }),
  /** The most of those one agent may hold (a burst, or calls held for approval, leaves the others room). */
  WRIT_MODEL_MAX_IN_FLIGHT_PER_AGENT: env.int({ default: 64, min: 1, max: 10_000 }),
  /**
   * How long a model call may take through the pipeline (its arrival to the provider's call, the
   * provider's own time left out) before the gateway lets fewer calls in at once: past that, it
   * refuses more (429 MODEL_CALLS_EXCEEDED, Retry-After) instead of letting them queue (PipelineGate
   * in @writ/model-proxy). 0: only WRIT_MODEL_MAX_IN_FLIGHT limits them.
   */
  WRIT_MODEL_PIPELINE_TARGET_MS: env.int({ default: 500, min: 0, max: 60_000 }),
};

export type GatewayConfig = BaseConfig & ConfigOf<typeof gatewayConfigSpec>;

/** Nest injection tokens of the gateway. */
export const DIRECTORY = Symbol('DIRECTORY');
export const TOOL_REGISTRY = Symbol('TOOL_REGISTRY');
/** The service's version (package.json), for `producer` = gateway@<version>. */
export const GATEWAY_VERSION = Symbol('GATEWAY_VERSION');
