import { WritError } from '@writ/errors';

/** Bad input to the accountant: names the field and the rule; not retriable (the message goes to the DLQ). */
export function invalidCommand(field: string, rule: string, value: unknown): WritError {
  return new WritError('BUDGET_INVALID_COMMAND', `${field} ${rule}, got ${JSON.stringify(value) ?? String(value)}`, { field, rule });
}

export function requireText(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw invalidCommand(field, 'must be a non-empty string', value);
}

export function requireCount(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidCommand(field, 'must be a whole number from 0 to 2^53 - 1', value);
  }
}

export function requireCurrency(value: unknown, field: string): void {
  if (typeof value !== 'string' || !/^[A-Z]{3}$/.test(value)) throw invalidCommand(field, 'must be an ISO 4217 code such as USD', value);
}

/** One tenant keeps its books in one currency. */
export function requireSameCurrency(expected: string | null, value: string, field: string): void {
  if (expected !== null && expected !== value) {
    throw new WritError('BUDGET_CURRENCY_MISMATCH', `${field} is ${value} but this tenant's budget is in ${expected}`, {
      field,
      rule: `must be ${expected}`,
    });
  }
}
