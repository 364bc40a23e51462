import { describe, expect, it } from 'vitest';
import { PersistentMap } from './persistent-map.ts';
import { seededRandom } from './testing/seeded-random.ts';
import type { SeededRandom } from './testing/seeded-random.ts';

type Op = { readonly kind: 'set'; readonly key: string; readonly value: number } | { readonly kind: 'delete'; readonly key: string };

const SPECIAL = ['a', 'b', 'ab', 'ba', '__proto__', 'constructor', '', 'costarring', 'liquid'];
const ALPHABET = 'abcxyz-_0';

// Few distinct keys, so sets and deletes hit the same keys often.
function randomKey(random: SeededRandom, maxLength = 3): string {
  if (random.chance(0.3)) return SPECIAL[random.int(SPECIAL.length)] ?? '';
  let key = '';
  for (let i = random.int(maxLength + 1); i > 0; i -= 1) key += ALPHABET[random.int(ALPHABET.length)] ?? '';
  return key;
}

function randomOps(random: SeededRandom): Op[] {
  return Array.from({ length: random.int(200) }, () =>
    random.chance(0.65) ? { kind: 'set' as const, key: randomKey(random), value: random.int(1000) } : { kind: 'delete' as const, key: randomKey(random) },
  );
}

const SEEDS = Array.from({ length: 120 }, (_, i) => i + 1);

function sorted(entries: Iterable<readonly [string, number]>): [string, number][] {
  return [...entries].map(([k, v]): [string, number] => [k, v]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('PersistentMap', () => {
  it('behaves as a Map under any sequence of sets and deletes, and leaves every earlier version as it was', () => {
    for (const seed of SEEDS) {
      const ops = randomOps(seededRandom(seed));
      {
        const model = new Map<string, number>();
        let map = PersistentMap.empty<number>();
        const versions: { map: PersistentMap<number>; entries: [string, number][] }[] = [];
        for (const step of ops) {
          if (step.kind === 'set') {
            model.set(step.key, step.value);
            map = map.set(step.key, step.value);
          } else {
            model.delete(step.key);
            map = map.delete(step.key);
          }
          versions.push({ map, entries: sorted(model) });
          expect(map.size).toBe(model.size);
          expect(map.get(step.key)).toBe(model.get(step.key));
          expect(map.has(step.key)).toBe(model.has(step.key));
        }
        for (const version of versions) {
          expect(sorted(version.map), `seed ${seed}`).toEqual(version.entries);
          const visited: [string, number][] = [];
          version.map.forEach((value, key) => visited.push([key, value]));
          expect(visited, `forEach, seed ${seed}`).toEqual([...version.map.entries()]);
        }
      }
    }
  });

  it('has one shape per set of entries: built in any order, it iterates the same and compares equal', () => {
    for (const seed of SEEDS) {
      const random = seededRandom(seed);
      const keys = [...new Set(Array.from({ length: random.int(60) }, () => randomKey(random, 6)))];
      const cut = random.int(keys.length + 1);
      {
        const forward = PersistentMap.from(keys.map((k, i): [string, number] => [k, i]));
        const backward = PersistentMap.from([...keys.entries()].reverse().map(([i, k]): [string, number] => [k, i]));
        expect([...backward.keys()]).toEqual([...forward.keys()]);
        expect(backward).toEqual(forward);
        // Deleting some and never having had them give the same shape too.
        const dropped = keys.slice(0, cut);
        const kept = PersistentMap.from(keys.slice(cut).map((k): [string, number] => [k, keys.indexOf(k)]));
        expect(forward.delete(...dropped), `seed ${seed}`).toEqual(kept);
      }
    }
  });

  it('tells maps with different entries apart in toEqual', () => {
    const a = PersistentMap.from({ x: 1, y: 2 });
    expect(a).not.toEqual(PersistentMap.from({ x: 1, y: 3 }));
    expect(a).not.toEqual(PersistentMap.from({ x: 1 }));
    expect(a).toEqual(PersistentMap.from({ y: 2, x: 1 }));
  });

  it('keeps colliding hashes apart (keys past the 32-bit hash share a collision node)', () => {
    // "costarring" and "liquid" collide under 32-bit FNV-1a.
    const map = PersistentMap.empty<number>().set('costarring', 1).set('liquid', 2).set('other', 3);
    expect(map.get('costarring')).toBe(1);
    expect(map.get('liquid')).toBe(2);
    expect(map.delete('costarring').get('liquid')).toBe(2);
    expect(map.delete('costarring')).toEqual(PersistentMap.empty<number>().set('other', 3).set('liquid', 2));
    expect(map.size).toBe(3);
    const visited: string[] = [];
    map.forEach((value, key) => visited.push(`${key}=${value}`));
    expect(visited.sort()).toEqual(['costarring=1', 'liquid=2', 'other=3']);
  });

  it('treats __proto__ and constructor as ordinary keys, also in toJSON', () => {
    const map = PersistentMap.from([
      ['__proto__', 1],
      ['constructor', 2],
    ] as const);
    expect(map.get('__proto__')).toBe(1);
    expect(Object.keys(map.toJSON())).toEqual(['__proto__', 'constructor']);
    expect(PersistentMap.empty<number>().get('toString')).toBeUndefined();
  });

  it('holds 100,000 entries; a change makes a new version and leaves the old one as it was', () => {
    let map = PersistentMap.empty<number>();
    for (let i = 0; i < 100_000; i += 1) map = map.set(`reservation-${i}`, i);
    const next = map.set('reservation-5', -1).delete('reservation-6');
    expect(next.size).toBe(99_999);
    expect(map.get('reservation-5')).toBe(5);
    expect(next.get('reservation-5')).toBe(-1);
    expect(map.get('reservation-6')).toBe(6);
  });
});
