/**
 * Decider states keep keyed collections as plain records so they snapshot as JSON. Keys come from
 * the outside (action ids, reservation ids): read them with `lookup`, which only sees own
 * properties, so an id such as "__proto__" or "constructor" is an unknown id, not Object.prototype.
 */
export function lookup<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A copy of the record with `key` set (an own property, whatever the key). */
export function withEntry<V>(record: Readonly<Record<string, V>>, key: string, value: V): Record<string, V> {
  const copy: Record<string, V> = { ...record };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** A copy of the record without the given keys. */
export function withoutEntries<V>(record: Readonly<Record<string, V>>, keys: Iterable<string>): Record<string, V> {
  const copy: Record<string, V> = { ...record };
  for (const key of keys) delete copy[key];
  return copy;
}
