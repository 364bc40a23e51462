// Money as every event carries it: a whole number of micro-units (1/1,000,000) of a currency.
// What people write in configuration files ("12.50") and read in messages, converted exactly
// (no floating point on the way in).

const MONEY = /^(0|[1-9][0-9]*)(\.[0-9]{1,6})?$/;

/** "12.50" (currency units, up to 6 decimals) -> 12500000 micro-units, exactly; undefined when it is no such amount or too large. */
export function parseMoneyMicros(text: string): number | undefined {
  const match = MONEY.exec(text);
  if (match === null) return undefined;
  const whole = BigInt(match[1] ?? '0');
  const fraction = BigInt((match[2] ?? '.').slice(1).padEnd(6, '0'));
  const micros = whole * 1_000_000n + fraction;
  return micros > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(micros);
}

/** 4_000_000 micro-units -> "4.00"; fractions of a cent are kept ("0.000125"). */
export function microsToMoney(micros: number): string {
  const whole = Math.trunc(micros / 1_000_000);
  const fraction = String(Math.abs(micros % 1_000_000))
    .padStart(6, '0')
    .replace(/0+$/, '')
    .padEnd(2, '0');
  return `${micros < 0 && whole === 0 ? '-' : ''}${whole}.${fraction}`;
}
