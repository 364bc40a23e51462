import { expect } from 'vitest';
import { isWritError } from '@writ/errors';
import type { WritError } from '@writ/errors';
import type { Decider } from '../decider.ts';

/** What a thrown WritError must also carry, besides its code. */
export interface ExpectedError {
  readonly field?: string;
  readonly rule?: string;
  readonly retriable?: boolean;
  readonly message?: string | RegExp;
}

export interface DeciderOutcome<Event, State> {
  /** The command produced exactly these events, in this order. Returns the state after them. */
  then(expected: readonly Event[]): State;
  /** The command produced no event (a duplicate, a late message). Returns the unchanged state. */
  thenNothing(): State;
  /** The command was refused with a WritError of this code (and these fields, when given). */
  thenThrows(code: string, expected?: ExpectedError): WritError;
}

export interface DeciderGiven<Command, Event, State> {
  when(command: Command): DeciderOutcome<Event, State>;
}

export interface DeciderSpec<Command, Event, State> {
  given(events?: readonly Event[]): DeciderGiven<Command, Event, State>;
}

/**
 * given(events) / when(command) / then(events) for a decider, on vitest's `expect`.
 *
 * Besides comparing events, every scenario checks the decider's purity: the state folded from the
 * given events and the command are deep-frozen before `decide` runs (mutating them throws), and
 * `decide` runs twice and must return equal events (so it cannot read the clock or a random
 * source). The events returned by `then` are folded too, so an `evolve` that throws fails here.
 */
export function deciderSpec<Command, Event, State>(decider: Decider<Command, Event, State>): DeciderSpec<Command, Event, State> {
  return {
    given(events: readonly Event[] = []) {
      return {
        when(command: Command) {
          const run = (): { events: readonly Event[]; state: State } => {
            let state = deepFreeze(decider.initialState());
            for (const event of events) state = deepFreeze(decider.evolve(state, deepFreeze(event)));
            deepFreeze(command);
            const first = decider.decide(command, state);
            const second = decider.decide(command, state);
            expect(second, 'decide must be deterministic: the same command and state gave different events').toEqual(first);
            let after = state;
            for (const event of first) after = deepFreeze(decider.evolve(after, event));
            return { events: first, state: after };
          };
          return {
            then(expected: readonly Event[]) {
              if (typeof expected === 'function') {
                throw new TypeError('a decider outcome is not a promise: call .then(events) instead of awaiting it');
              }
              const result = run();
              expect(result.events).toEqual(expected);
              return result.state;
            },
            thenNothing() {
              const result = run();
              expect(result.events).toEqual([]);
              return result.state;
            },
            thenThrows(code: string, expectedError: ExpectedError = {}) {
              let caught: unknown;
              try {
                run();
              } catch (error) {
                caught = error;
              }
              if (caught === undefined) expect.fail(`expected decide to throw ${code}, but it returned events`);
              if (!isWritError(caught)) throw caught;
              expect(caught.code).toBe(code);
              const { message, ...fields } = expectedError;
              expect(caught).toMatchObject(fields);
              if (message !== undefined) expect(caught.message).toMatch(message);
              return caught;
            },
          };
        },
      };
    },
  };
}

/** Freezes a plain-data value and everything reachable from it, in place; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  return value;
}
