import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * The part of a broker log a person needs after a failed start: the first ERROR line with the
 * exception under it (usually the cause), then the last lines without Java stack frames.
 */
export function logExcerpt(file: string, lines = 15, maxBytes = 256 * 1024): string {
  const text = readEnd(file, maxBytes);
  return text === undefined ? `(no log at ${file})` : excerptOf(text, lines);
}

export function excerptOf(text: string, lines = 15): string {
  const all = text.split('\n').filter((line) => line !== '');
  const firstError = all.findIndex((line) => /\] (ERROR|FATAL) /.test(line));
  const cause = firstError < 0 ? [] : [all[firstError] ?? '', ...all.slice(firstError + 1, firstError + 2).filter((l) => !isFrame(l))];
  const tail = all.filter((line) => !isFrame(line)).slice(-lines);
  const parts = cause.length === 0 ? [] : ['first error:', ...cause, 'last lines:'];
  return [...parts, ...tail].join('\n');
}

function isFrame(line: string): boolean {
  return /^\s+(at |\.\.\. \d+ more)/.test(line);
}

function readEnd(file: string, maxBytes: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
