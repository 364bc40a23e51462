import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { WritError } from '@writ/errors';
import { isRunning, parsePid } from './pid-file.ts';

/**
 * Runs `work` while holding an exclusive lock file (holding our pid), so
 * two processes (two test runs, a test run and `./dev stack up`) never start, adopt or stop the
 * broker at the same time. The file appears atomically with its content (a hard link of a
 * finished temporary file), so nobody reads a half-written lock. A lock left by a dead process is
 * taken over.
 */
export async function withFileLock<T>(lockFile: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let holder: number | undefined;
  for (;;) {
    if (tryCreate(lockFile)) break;
    holder = lockHolder(lockFile);
    if (holder === undefined || !isRunning(holder)) {
      rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new WritError('KAFKA_LOCK_TIMEOUT', `${lockFile} is still held by process ${holder} after ${timeoutMs} ms`, {
        retriable: true,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    return await work();
  } finally {
    if (lockHolder(lockFile) === process.pid) rmSync(lockFile, { force: true });
  }
}

function tryCreate(lockFile: string): boolean {
  const draft = `${lockFile}.${process.pid}`;
  writeFileSync(draft, `${process.pid}\n`);
  try {
    linkSync(draft, lockFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}

function lockHolder(lockFile: string): number | undefined {
  try {
    return parsePid(readFileSync(lockFile, 'utf8'));
  } catch {
    return undefined;
  }
}
