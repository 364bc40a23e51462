import { describe, expect, it } from 'vitest';
import { classifyPidFile, parsePid } from './pid-file.ts';
import type { ProcessTable } from './pid-file.ts';

const PROPS = '/w/.local/kafka/config/server.properties';

function table(processes: Record<number, string[]>): ProcessTable {
  return {
    isRunning: (pid) => pid in processes,
    commandLine: (pid) => processes[pid],
  };
}

const broker = ['java', '-Xmx512m', '-cp', '/w/.local/kafka/libs/*', 'kafka.Kafka', PROPS];

describe('pid file', () => {
  it('is absent when there is no file', () => {
    expect(classifyPidFile(undefined, PROPS, table({}))).toEqual({ kind: 'absent' });
  });

  it('names the running broker when the process runs kafka.Kafka with our server.properties', () => {
    expect(classifyPidFile('4242\n', PROPS, table({ 4242: broker }))).toEqual({ kind: 'running', pid: 4242 });
  });

  it('is stale when the process is gone', () => {
    expect(classifyPidFile('4242\n', PROPS, table({}))).toEqual({
      kind: 'stale',
      pid: 4242,
      reason: 'process 4242 is not running',
    });
  });

  it('is stale when the pid was reused by another program', () => {
    expect(classifyPidFile('4242', PROPS, table({ 4242: ['node', 'server.js'] }))).toMatchObject({
      kind: 'stale',
      reason: 'process 4242 is not this broker (pid reused)',
    });
  });

  it("is stale when it is another checkout's broker", () => {
    const elsewhere = [...broker.slice(0, -1), '/other/.local/kafka/config/server.properties'];
    expect(classifyPidFile('4242', PROPS, table({ 4242: elsewhere }))).toMatchObject({ kind: 'stale', pid: 4242 });
  });

  it('is stale when the content is not a pid', () => {
    expect(classifyPidFile('hello', PROPS, table({}))).toMatchObject({ kind: 'stale', pid: undefined });
  });

  it('accepts only plausible pids', () => {
    expect(parsePid(' 123 \n')).toBe(123);
    for (const bad of ['', '0', '1', '-5', '12a', '99999999999']) expect(parsePid(bad), bad).toBeUndefined();
  });
});
