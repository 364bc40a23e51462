import { describe, expect, it } from 'vitest';
import { WritError, isWritError } from '@writ/errors';
import { assertNever, evolveAll, handleCommand } from './decider.ts';
import { accumulator } from './accumulator.ts';
import { lookup, withEntry, withoutEntries } from './records.ts';
import type { Decider } from './decider.ts';
import { deciderSpec, deepFreeze, seededRandom } from './testing/index.ts';

// A counter with a cap: the smallest decider that has a rejection, a no-op and a failure.
type Command = { type: 'Add'; amount: number } | { type: 'Reset' };
type Event = { type: 'Added'; amount: number } | { type: 'CapReached'; total: number } | { type: 'Reset' };
interface State {
  readonly total: number;
  readonly history: readonly number[];
}

const CAP = 10;
const counter: Decider<Command, Event, State> = {
  initialState: () => ({ total: 0, history: [] }),
  decide(command, state) {
    switch (command.type) {
      case 'Add':
        if (command.amount <= 0) throw new WritError('COUNTER_INVALID', 'amount must be positive', { field: 'amount', rule: 'positive' });
        if (state.total + command.amount > CAP) return [{ type: 'CapReached', total: state.total }];
        return [{ type: 'Added', amount: command.amount }];
      case 'Reset':
        return state.total === 0 ? [] : [{ type: 'Reset' }];
      default:
        return assertNever(command, 'counter command');
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'Added':
        return { total: state.total + event.amount, history: [...state.history, event.amount] };
      case 'CapReached':
        return state;
      case 'Reset':
        return { total: 0, history: [] };
      default:
        return assertNever(event, 'counter event');
    }
  },
};

const spec = deciderSpec(counter);

describe('deciderSpec', () => {
  it('then() compares the events and returns the state after them', () => {
    const state = spec
      .given([{ type: 'Added', amount: 4 }])
      .when({ type: 'Add', amount: 5 })
      .then([{ type: 'Added', amount: 5 }]);
    expect(state).toEqual({ total: 9, history: [4, 5] });
  });

  it('then() fails when the events differ', () => {
    expect(() =>
      spec
        .given([{ type: 'Added', amount: 8 }])
        .when({ type: 'Add', amount: 5 })
        .then([{ type: 'Added', amount: 5 }]),
    ).toThrow();
  });

  it('thenNothing() passes on no events and fails otherwise', () => {
    expect(spec.given().when({ type: 'Reset' }).thenNothing()).toEqual({ total: 0, history: [] });
    expect(() =>
      spec
        .given([{ type: 'Added', amount: 1 }])
        .when({ type: 'Reset' })
        .thenNothing(),
    ).toThrow();
  });

  it('thenThrows() matches the code and the given fields', () => {
    const error = spec
      .given()
      .when({ type: 'Add', amount: 0 })
      .thenThrows('COUNTER_INVALID', { field: 'amount', rule: 'positive', message: /positive/ });
    expect(error.retriable).toBe(false);
    expect(() => spec.given().when({ type: 'Add', amount: 0 }).thenThrows('OTHER_CODE')).toThrow();
    expect(() => spec.given().when({ type: 'Add', amount: 0 }).thenThrows('COUNTER_INVALID', { field: 'total' })).toThrow();
    expect(() => spec.given().when({ type: 'Add', amount: 1 }).thenThrows('COUNTER_INVALID')).toThrow(/expected decide to throw/);
  });

  it('catches a decide that mutates its state', () => {
    const mutating: Decider<Command, Event, State> = {
      ...counter,
      decide(command, state) {
        (state.history as number[]).push(0);
        return counter.decide(command, state);
      },
    };
    expect(() =>
      deciderSpec(mutating)
        .given()
        .when({ type: 'Add', amount: 1 })
        .then([{ type: 'Added', amount: 1 }]),
    ).toThrow(TypeError);
  });

  it('catches a decide that is not deterministic', () => {
    let calls = 0;
    const flaky: Decider<Command, Event, State> = {
      ...counter,
      decide: () => [{ type: 'Added', amount: (calls += 1) }],
    };
    expect(() =>
      deciderSpec(flaky)
        .given()
        .when({ type: 'Add', amount: 1 })
        .then([{ type: 'Added', amount: 1 }]),
    ).toThrow(/deterministic/);
  });

  it('refuses to be awaited as a promise', () => {
    const outcome = spec.given().when({ type: 'Add', amount: 1 });
    expect(() => outcome.then((() => undefined) as unknown as Event[])).toThrow(/not a promise/);
  });
});

describe('decider helpers', () => {
  it('evolveAll folds from the initial state or from a given one', () => {
    const events: Event[] = [
      { type: 'Added', amount: 2 },
      { type: 'Added', amount: 3 },
    ];
    expect(evolveAll(counter, events)).toEqual({ total: 5, history: [2, 3] });
    expect(evolveAll(counter, events, { total: 1, history: [1] })).toEqual({ total: 6, history: [1, 2, 3] });
  });

  it('handleCommand decides and folds', () => {
    const { events, state } = handleCommand(counter, { total: 9, history: [9] }, { type: 'Add', amount: 2 });
    expect(events).toEqual([{ type: 'CapReached', total: 9 }]);
    expect(state).toEqual({ total: 9, history: [9] });
  });

  it('assertNever names the unknown variant', () => {
    let caught: unknown;
    try {
      counter.decide({ type: 'Multiply' } as unknown as Command, counter.initialState());
    } catch (error) {
      caught = error;
    }
    expect(isWritError(caught, 'DECIDER_UNKNOWN_VARIANT')).toBe(true);
    expect((caught as Error).message).toBe('unknown counter command: Multiply');
  });

  it('deepFreeze freezes nested values', () => {
    const value = deepFreeze({ a: { b: [1, { c: 2 }] } });
    expect(Object.isFrozen(value.a.b[1])).toBe(true);
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed and stays in range', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const fromA = Array.from({ length: 50 }, () => a.int(7));
    expect(Array.from({ length: 50 }, () => b.int(7))).toEqual(fromA);
    expect(fromA.every((n) => n >= 0 && n < 7)).toBe(true);
    expect(new Set(fromA).size).toBe(7);
    expect(seededRandom(43).int(1_000_000)).not.toBe(seededRandom(42).int(1_000_000));
  });

  it('shuffles into a permutation and picks members', () => {
    const random = seededRandom(7);
    const items = [1, 2, 3, 4, 5, 6];
    const shuffled = random.shuffle(items);
    expect([...shuffled].sort()).toEqual(items);
    expect(items).toEqual([1, 2, 3, 4, 5, 6]);
    expect(items).toContain(random.pick(items));
    const value = random.between(3, 5);
    expect(value >= 3 && value <= 5).toBe(true);
  });
});

describe('records and accumulator', () => {
  it('lookup sees own keys only, so hostile ids are unknown ids', () => {
    const record: Record<string, number> = { a: 1 };
    expect(lookup(record, 'a')).toBe(1);
    expect(lookup(record, '__proto__')).toBeUndefined();
    expect(lookup(record, 'constructor')).toBeUndefined();
    const withProto = withEntry(record, '__proto__', 2);
    expect(lookup(withProto, '__proto__')).toBe(2);
    expect(Object.getPrototypeOf(withProto)).toBe(Object.prototype);
    expect(record).toEqual({ a: 1 });
    expect(withoutEntries(withEntry(record, 'b', 3), ['a'])).toEqual({ b: 3 });
  });

  it('accumulator evolves as it emits', () => {
    const acc = accumulator(counter.evolve, counter.initialState());
    acc.emit({ type: 'Added', amount: 2 });
    expect(acc.state.total).toBe(2);
    acc.emit({ type: 'Added', amount: 3 }, { type: 'Reset' });
    expect(acc.state.total).toBe(0);
    expect(acc.events).toHaveLength(3);
  });
});
