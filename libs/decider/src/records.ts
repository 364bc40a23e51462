import { PersistentMap } from './persistent-map.ts';

/**
 * Decider states keep keyed collections as plain records (small ones: they snapshot as JSON as
 * they are) or as PersistentMaps (ones that grow with traffic: a change does not copy them). Keys
 * come from the outside (action ids, reservation ids): read them with `lookup`, which only sees own
 * properties of a record, so an id such as "__proto__" or "constructor" is an unknown id, not
 * Object.prototype.
 */
export function lookup<V>(record: Readonly<Record<string, V>> | PersistentMap<V>, key: string): V | undefined {
  if (record instanceof PersistentMap) return record.get(key);
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A copy of the collection with `key` set (an own property of a record, whatever the key). */
export function withEntry<V>(record: PersistentMap<V>, key: string, value: V): PersistentMap<V>;
export function withEntry<V>(record: Readonly<Record<string, V>>, key: string, value: V): Record<string, V>;
export function withEntry<V>(record: Readonly<Record<string, V>> | PersistentMap<V>, key: string, value: V): Record<string, V> | PersistentMap<V> {
  if (record instanceof PersistentMap) return record.set(key, value);
  const copy: Record<string, V> = { ...record };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** A copy of the collection without the given keys. */
export function withoutEntries<V>(record: PersistentMap<V>, keys: Iterable<string>): PersistentMap<V>;
export function withoutEntries<V>(record: Readonly<Record<string, V>>, keys: Iterable<string>): Record<string, V>;
export function withoutEntries<V>(record: Readonly<Record<string, V>> | PersistentMap<V>, keys: Iterable<string>): Record<string, V> | PersistentMap<V> {
  if (record instanceof PersistentMap) return record.delete(...keys);
  const copy: Record<string, V> = { ...record };
  for (const key of keys) delete copy[key];
  return copy;
}
