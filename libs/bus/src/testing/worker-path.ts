import { fileURLToPath } from 'node:url';

/**
 * A consumer or transactional processor in a process of its own, for tests that kill it for
 * real (SIGKILL) and restart it. Run as `node --conditions=writ-source <path>` with WorkerEnv.
 */
export const WORKER_FIXTURE_PATH = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.fixture.ts' : './worker.fixture.js', import.meta.url));

export interface WorkerEnv {
  readonly WORKER_MODE: 'consumer' | 'transactional';
  readonly WRIT_KAFKA_BROKERS: string;
  readonly INPUT_TOPIC: string;
  /** Transactional mode: where ActionAdmitted outputs go. */
  readonly OUTPUT_TOPIC?: string;
  readonly GROUP_ID: string;
  /** Appended (synchronously, so a SIGKILL loses nothing) with `<event_id>\n` per handled event. */
  readonly HANDLED_LOG: string;
  /** Pause per event, to make the stream last long enough to be killed in the middle. */
  readonly DELAY_MS?: string;
}
