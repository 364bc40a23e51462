// Lengths of time as configuration files write them: a whole number and a unit ("30s", "90m",
// "1h", "7d"). Each caller bounds what it accepts and names its field in the error.

const DURATION = /^([1-9][0-9]{0,8})([smhd])$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90m" -> 5,400,000 ms; undefined for anything else, or a unit not in `units` (default all: s, m, h, d). */
export function parseDurationMs(text: unknown, units: string = 'smhd'): number | undefined {
  const match = typeof text === 'string' ? DURATION.exec(text) : null;
  if (match === null || !units.includes(match[2] ?? '')) return undefined;
  const ms = Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
