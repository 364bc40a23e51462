// The idempotency store on disk: an append-only journal of JSON lines, each write fsynced before
// it resolves, replayed into memory at boot. A lock file keeps a second process out of the folder.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync, existsSync, fsyncSync } from 'node:fs';
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

export class FileIdempotencyStore implements IdempotencyStore {
  readonly #memory: MemoryIdempotencyStore;
  readonly #handle: FileHandle;
  readonly #lockPath: string;
  #tail: Promise<void> = Promise.resolve();

  private constructor(memory: MemoryIdempotencyStore, handle: FileHandle, lockPath: string) {
    this.#memory = memory;
    this.#handle = handle;
    this.#lockPath = lockPath;
  }

  static async open(dir: string): Promise<FileIdempotencyStore> {
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
    const handle = await open(journal, 'a');
    // Make the journal's directory entry durable too.
    const dirFd = openSync(root, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return new FileIdempotencyStore(memory, handle, lockPath);
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

  async close(): Promise<void> {
    await this.#tail.catch(() => undefined);
    await this.#handle.close();
    rmSync(this.#lockPath, { force: true });
  }

  /** Appends one line and fsyncs it; writes are serialised so lines never interleave. */
  #append(entry: JournalEntry): Promise<void> {
    const line = journalLine(entry);
    const next = this.#tail.then(async () => {
      await this.#handle.appendFile(line, 'utf8');
      await this.#handle.datasync();
    });
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
