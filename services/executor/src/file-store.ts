// The idempotency store on disk: an append-only journal of JSON lines, each write fsynced before
// it resolves, replayed into memory at boot. A lock file keeps a second process out of the folder.
// Records past their retention (outlived: their request's deadline long gone) are forgotten in
// memory as the executor runs, and dropped from the file when it is compacted at the next boot.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync, existsSync, fsyncSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { WritError } from '@writ/errors';
import { MemoryIdempotencyStore, journalLine, parseJournal } from '@writ/executor-core';
import type { ExecutionRecord, ExecutionResult, IdempotencyStore, JournalEntry } from '@writ/executor-core';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function takeLock(path: string): void {
  for (let tries = 0; tries < 2; tries += 1) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      fsyncSync(fd);
      closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new WritError('EXECUTOR_DATA_DIR_LOCKED', `the executor data folder is in use by process ${holder}`, {
          field: 'WRIT_EXECUTOR_DATA_DIR',
          rule: 'one executor process per data folder',
        });
      }
      rmSync(path, { force: true }); // left by a process that died
    }
  }
  throw new WritError('EXECUTOR_DATA_DIR_LOCKED', `cannot lock ${path}`, { field: 'WRIT_EXECUTOR_DATA_DIR', rule: 'one executor process per data folder' });
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Rewrites the journal with `entries` only: a new file made durable, then renamed over the old one. */
function compactJournal(root: string, journal: string, entries: readonly JournalEntry[]): void {
  const next = join(root, 'journal.jsonl.compacting');
  writeFileSync(next, entries.map(journalLine).join(''), 'utf8');
  fsyncPath(next);
  renameSync(next, journal);
  fsyncPath(root);
}

export interface JournalRetention {
  /** How long a finished record is kept after its request's deadline; 0 keeps every record. */
  readonly retentionMs: number;
  readonly now: () => number;
}

export class FileIdempotencyStore implements IdempotencyStore {
  readonly #memory: MemoryIdempotencyStore;
  readonly #handle: FileHandle;
  readonly #lockPath: string;
  /** Lines waiting for the next write, each with whoever waits for it to be durable. */
  #queue: { readonly line: string; readonly done: (error?: unknown) => void }[] = [];
  /** The write and fdatasync in progress (null: none); lines queued meanwhile go in the next one. */
  #flushing: Promise<void> | null = null;

  readonly #retention: JournalRetention;
  /** Records dropped from the file when it was compacted at this boot. */
  readonly compacted: number;

  private constructor(memory: MemoryIdempotencyStore, handle: FileHandle, lockPath: string, retention: JournalRetention, compacted: number) {
    this.#memory = memory;
    this.#handle = handle;
    this.#lockPath = lockPath;
    this.#retention = retention;
    this.compacted = compacted;
  }

  static async open(dir: string, retention: JournalRetention = { retentionMs: 0, now: Date.now }): Promise<FileIdempotencyStore> {
    const root = resolve(dir);
    try {
      mkdirSync(root, { recursive: true });
    } catch (cause) {
      throw new WritError('CONFIG_INVALID', `cannot create the executor data folder ${root}`, {
        field: 'WRIT_EXECUTOR_DATA_DIR',
        rule: 'a writable folder',
        cause,
      });
    }
    const lockPath = join(root, 'executor.lock');
    takeLock(lockPath);
    const journal = join(root, 'journal.jsonl');
    const memory = new MemoryIdempotencyStore();
    if (existsSync(journal)) for (const entry of parseJournal(readFileSync(journal, 'utf8'))) memory.replay(entry);
    const compacted = memory.prune(retention.now(), retention.retentionMs);
    if (compacted > 0) compactJournal(root, journal, memory.entries());
    const handle = await open(journal, 'a');
    // Make the journal's directory entry durable too.
    fsyncPath(root);
    return new FileIdempotencyStore(memory, handle, lockPath, retention, compacted);
  }

  /** Forgets the outlived records in memory (the file keeps them until the next boot compacts it); returns how many. */
  prune(): number {
    return this.#memory.prune(this.#retention.now(), this.#retention.retentionMs);
  }

  get(actionId: string): ExecutionRecord | undefined {
    return this.#memory.get(actionId);
  }

  unfinished(): ExecutionRecord[] {
    return this.#memory.unfinished();
  }

  async start(record: ExecutionRecord): Promise<void> {
    if (this.#memory.get(record.action_id) !== undefined) throw new WritError('EXECUTION_ALREADY_STARTED', `action ${record.action_id} was already started`);
    await this.#append({ op: 'start', record });
    this.#memory.replay({ op: 'start', record });
  }

  async finish(record: ExecutionRecord, outcome: ExecutionResult, finishedAt: number): Promise<void> {
    const entry: JournalEntry = { op: 'finish', record, outcome, finished_at: finishedAt };
    await this.#append(entry);
    this.#memory.replay(entry);
  }

  /** In memory at once; the line goes to the journal with the next write, and nobody waits for it. */
  remember(record: ExecutionRecord, outcome: ExecutionResult, finishedAt: number): void {
    const entry: JournalEntry = { op: 'finish', record, outcome, finished_at: finishedAt };
    this.#memory.replay(entry);
    this.#append(entry).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.#flushing;
    await this.#handle.close();
    rmSync(this.#lockPath, { force: true });
  }

  /**
   * Appends one line and resolves once it is on disk (fdatasync). Group commit: lines appended
   * while a write is in flight go together in the next write and share its fdatasync, so the
   * journal costs one fsync per batch, not one per line. One at a time, a call waited behind the
   * two fsyncs of every call in flight before it (up to WRIT_EXECUTOR_IN_FLIGHT per partition), which
   * on a busy disk made each call take seconds. Writes never interleave.
   */
  #append(entry: JournalEntry): Promise<void> {
    const line = journalLine(entry);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ line, done: (error) => (error === undefined ? resolve() : reject(error as Error)) });
      this.#flushing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      try {
        await this.#handle.appendFile(batch.map((queued) => queued.line).join(''), 'utf8');
        await this.#handle.datasync();
        for (const queued of batch) queued.done();
      } catch (error) {
        for (const queued of batch) queued.done(error ?? new Error('journal write failed'));
      }
    }
    this.#flushing = null;
  }
}
