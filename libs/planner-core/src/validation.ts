import { WritError } from '@writ/errors';

/** Bad input to the planner: names the field and the rule; not retriable (the message goes to the DLQ). */
export function invalidCommand(field: string, rule: string, value: unknown): WritError {
  return new WritError('PLANNER_INVALID_COMMAND', `${field} ${rule}, got ${JSON.stringify(value) ?? String(value)}`, { field, rule });
}

export function requireText(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw invalidCommand(field, 'must be a non-empty string', value);
}

export function requireCount(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidCommand(field, 'must be a whole number from 0 to 2^53 - 1', value);
  }
}

export function requireOptionalCount(value: unknown, field: string): void {
  if (value !== null) requireCount(value, field);
}

export function requireInstant(value: unknown, field: string): void {
  requireCount(value, field);
}
