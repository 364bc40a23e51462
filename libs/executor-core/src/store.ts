// The idempotency records of the executor: one per action, written durably *before* a tool with
// side effects is called, completed with the outcome afterwards. A record that was started and
// never finished means the executor stopped mid-call: the outcome is unknown and must not be
// guessed by calling again.
import type { ActionExecuted, ActionFailed, TraceContext } from '@writ/contracts';

/**
 * A success as the executor keeps it: ActionExecuted's fields with the result's body itself. On the
 * wire the body travels by reference (outcomeEvents): the event carries only its digest.
 */
export type ExecutedPayload = Omit<ActionExecuted, 'meta' | 'result_json' | 'result_ref'> & { readonly result_json: string };
export type FailedPayload = Omit<ActionFailed, 'meta'>;

/** The outcome of one ExecutionRequested, as the executor keeps it (outcomeEvents turns it into events). */
export type ExecutionResult =
  { readonly type: 'ActionExecuted'; readonly payload: ExecutedPayload } | { readonly type: 'ActionFailed'; readonly payload: FailedPayload };

/** Everything needed to report an outcome later (after a restart) without the request. No secrets, no arguments. */
export interface ExecutionRecord {
  readonly action_id: string;
  readonly tenant_id: string;
  readonly run_id: string;
  readonly agent_id: string;
  readonly tool: string;
  readonly tool_version: string;
  readonly args_sha256: string;
  readonly reservation_id: string;
  readonly currency: string;
  /** Expected cost, reported for an unknown outcome (the side effect may have happened). */
  readonly cost_micros: number;
  /** event_id of the ExecutionRequested. */
  readonly causation_id: string;
  readonly trace: TraceContext | null;
  readonly started_at: number;
  /** The request's deadline: a redelivery after it is refused (DEADLINE_PASSED), so the record can go. Absent in records written before it. */
  readonly deadline?: number;
  readonly outcome?: ExecutionResult;
  readonly finished_at?: number;
}

export interface IdempotencyStore {
  get(actionId: string): ExecutionRecord | undefined;
  /** Resolves only once the record is durable (fsync). Throws if one exists for this action. */
  start(record: ExecutionRecord): Promise<void>;
  /** Records the outcome (durably). Creates the record when there was no start. */
  finish(record: ExecutionRecord, outcome: ExecutionResult, finishedAt: number): Promise<void>;
  /**
   * Records the outcome of a call without side effects at once, without waiting for it to be
   * durable: after a crash the call may be made again, which a read allows, so its outcome need
   * not wait for a disk flush. A redelivery meanwhile finds it, as after `finish`.
   */
  remember(record: ExecutionRecord, outcome: ExecutionResult, finishedAt: number): void;
  /** Records started and never finished. */
  unfinished(): ExecutionRecord[];
}

/** An in-memory store: for tests, and the state a file store rebuilds at boot. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly records = new Map<string, ExecutionRecord>();

  get(actionId: string): ExecutionRecord | undefined {
    return this.records.get(actionId);
  }

  start(record: ExecutionRecord): Promise<void> {
    if (this.records.has(record.action_id)) return Promise.reject(new Error(`action ${record.action_id} was already started`));
    this.records.set(record.action_id, record);
    return Promise.resolve();
  }

  finish(record: ExecutionRecord, outcome: ExecutionResult, finishedAt: number): Promise<void> {
    this.remember(record, outcome, finishedAt);
    return Promise.resolve();
  }

  remember(record: ExecutionRecord, outcome: ExecutionResult, finishedAt: number): void {
    const base = this.records.get(record.action_id) ?? record;
    this.records.set(record.action_id, { ...base, outcome, finished_at: finishedAt });
  }

  unfinished(): ExecutionRecord[] {
    return [...this.records.values()].filter((record) => record.outcome === undefined);
  }

  /** Forgets the records past their retention (outlived); returns how many. */
  prune(now: number, retentionMs: number): number {
    let pruned = 0;
    for (const [actionId, record] of this.records) {
      if (!outlived(record, now, retentionMs)) continue;
      this.records.delete(actionId);
      pruned += 1;
    }
    return pruned;
  }

  /** The journal lines that rebuild what is kept: a start for a call in flight, a finish for an ended one. */
  entries(): JournalEntry[] {
    return [...this.records.values()].map((record): JournalEntry => {
      if (record.outcome === undefined) return { op: 'start', record };
      const { outcome, finished_at, ...started } = record;
      return { op: 'finish', record: started, outcome, finished_at: finished_at ?? record.started_at };
    });
  }

  /** Applies one line of a journal (see journalLine); used to rebuild state from a file. */
  replay(entry: JournalEntry): void {
    if (entry.op === 'start') this.records.set(entry.record.action_id, entry.record);
    else {
      const base = this.records.get(entry.record.action_id) ?? entry.record;
      this.records.set(entry.record.action_id, { ...base, outcome: entry.outcome, finished_at: entry.finished_at });
    }
  }
}

/**
 * A finished record the executor no longer needs: `retentionMs` after its request's deadline (or,
 * for a record written before deadlines were kept, after it finished). A redelivered request
 * past its deadline is refused before any call (DEADLINE_PASSED), so its outcome need not be kept
 * to stop a second call. A call in flight (no outcome) is never outlived: it is reported as unknown.
 */
export function outlived(record: ExecutionRecord, now: number, retentionMs: number): boolean {
  if (record.outcome === undefined || retentionMs <= 0) return false;
  const since = record.deadline ?? record.finished_at ?? record.started_at;
  return now - since > retentionMs;
}

export type JournalEntry =
  | { readonly op: 'start'; readonly record: ExecutionRecord }
  | { readonly op: 'finish'; readonly record: ExecutionRecord; readonly outcome: ExecutionResult; readonly finished_at: number };

/** One journal line (JSON, newline-terminated). */
export function journalLine(entry: JournalEntry): string {
  return `${JSON.stringify(entry)}\n`;
}

/**
 * Parses a journal. A torn last line (a crash in the middle of a write) is ignored: its fsync never
 * completed, so nothing was called on its strength. A bad line elsewhere is corruption and throws.
 */
export function parseJournal(text: string): JournalEntry[] {
  const lines = text.split('\n');
  const entries: JournalEntry[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      const entry = JSON.parse(line) as JournalEntry;
      if ((entry.op !== 'start' && entry.op !== 'finish') || typeof entry.record?.action_id !== 'string') throw new Error('not a journal entry');
      entries.push(entry);
    } catch (cause) {
      const last = lines.slice(index + 1).every((rest) => rest.trim() === '');
      if (!last) throw new Error(`executor journal line ${index + 1} is corrupt: ${(cause as Error).message}`, { cause });
    }
  });
  return entries;
}
