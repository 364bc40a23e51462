/** Where the bus reports what it did not throw: DLQ routing, retries, failed commits. */
export interface BusLogger {
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

function line(level: string, message: string, fields: Readonly<Record<string, unknown>> | undefined): string {
  return `${JSON.stringify({ level, time: new Date().toISOString(), logger: 'writ.bus', message, ...fields })}\n`;
}

/** JSON lines on stderr; services pass their own structured logger instead. */
export const stderrLogger: BusLogger = {
  info: (message, fields) => process.stderr.write(line('info', message, fields)),
  warn: (message, fields) => process.stderr.write(line('warn', message, fields)),
  error: (message, fields) => process.stderr.write(line('error', message, fields)),
};

export const silentLogger: BusLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
