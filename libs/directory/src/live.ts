import { watchFile, unwatchFile } from 'node:fs';
import { describeError } from '@writ/errors';
import type { Directory, Principal } from './directory.ts';
import { loadDirectory } from './load.ts';

/** A directory that follows its file: keys rotated or revoked there take effect without a restart. */
export interface LiveDirectory extends Directory {
  /** Re-reads the file now; an invalid file keeps the current directory (and is reported). */
  reload(): Promise<boolean>;
  close(): void;
}

export interface WatchOptions {
  /** How often the file's modification time is checked (default 1,000 ms). */
  readonly intervalMs?: number;
  /** Told after each reload, with the number of principals. */
  readonly onReload?: (principals: number) => void;
  /** Told when a changed file is invalid: the previous directory stays in force. */
  readonly onError?: (message: string) => void;
}

/**
 * Loads the directory file and keeps following it: a change to the file (a new key hash, a
 * removed principal) is in force within `intervalMs`. A file that becomes invalid never empties
 * the directory: the last valid one stays and the error is reported, naming the field.
 */
export async function watchDirectory(path: string, options: WatchOptions = {}): Promise<LiveDirectory> {
  let current = await loadDirectory(path);
  const reload = async (): Promise<boolean> => {
    try {
      current = await loadDirectory(path);
      options.onReload?.(current.agents.length + current.users.length + current.services.length);
      return true;
    } catch (error) {
      options.onError?.(`directory ${path} was not reloaded, the previous one stays in force: ${describeError(error)}`);
      return false;
    }
  };
  const listener = (now: { mtimeMs: number; size: number }, before: { mtimeMs: number; size: number }) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) void reload();
  };
  watchFile(path, { interval: options.intervalMs ?? 1_000, persistent: false }, listener);
  return {
    get agents() {
      return current.agents;
    },
    get users() {
      return current.users;
    },
    get services() {
      return current.services;
    },
    agent: (id: string) => current.agent(id),
    user: (id: string) => current.user(id),
    authenticate: (apiKey: string): Principal | undefined => current.authenticate(apiKey),
    reload,
    close: () => unwatchFile(path, listener),
  };
}
