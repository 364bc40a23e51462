import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/** True while `pid` is a live process (an exited child not yet reaped — a zombie — is not). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const state = procState(pid);
  return state !== 'Z' && state !== 'X';
}

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).charAt(0);
  } catch {
    return undefined;
  }
}

/** The process's command line, or undefined when it is gone (or unreadable). */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((part) => part !== '');
  } catch {
    // No /proc (macOS): ask ps. Arguments with spaces are not split exactly; good enough to match.
    try {
      const line = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      return line === '' ? undefined : line.split(/\s+/);
    } catch {
      return undefined;
    }
  }
}

export type PidFileState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'running'; readonly pid: number }
  | { readonly kind: 'stale'; readonly pid: number | undefined; readonly reason: string };

/** How to look at processes; the real one uses /proc, tests pass a fake. */
export interface ProcessTable {
  isRunning(pid: number): boolean;
  commandLine(pid: number): string[] | undefined;
}

export const systemProcesses: ProcessTable = { isRunning, commandLine };

export function inspectPidFile(pidFile: string, serverProperties: string): PidFileState {
  let text: string | undefined;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return classifyPidFile(text, serverProperties, systemProcesses);
}

/**
 * A pid file alone proves nothing: the broker may have died and its pid been reused. It names
 * our broker only if that process is alive and runs kafka.Kafka with this home's server.properties.
 */
export function classifyPidFile(text: string | undefined, serverProperties: string, processes: ProcessTable): PidFileState {
  if (text === undefined) return { kind: 'absent' };
  const pid = parsePid(text);
  if (pid === undefined) return { kind: 'stale', pid, reason: `unreadable content ${JSON.stringify(text.slice(0, 40))}` };
  if (!processes.isRunning(pid)) return { kind: 'stale', pid, reason: `process ${pid} is not running` };
  const args = processes.commandLine(pid);
  if (args === undefined || !args.includes('kafka.Kafka') || !args.includes(serverProperties)) {
    return { kind: 'stale', pid, reason: `process ${pid} is not this broker (pid reused)` };
  }
  return { kind: 'running', pid };
}

export function parsePid(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d{1,10}$/.test(trimmed)) return undefined;
  const pid = Number(trimmed);
  return pid > 1 && pid <= 4_194_304 ? pid : undefined;
}

export function writePidFile(pidFile: string, pid: number): void {
  writeFileSync(pidFile, `${pid}\n`);
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}
