import { WritError } from '@writ/errors';

/**
 * A state machine as three pure functions: `decide` turns a command and the current state into
 * the events that record what happened (an empty list when nothing did), `evolve` folds one event
 * into the state, and `initialState` is where every stream starts. Time, randomness and anything
 * read from the outside world arrive inside commands, so replaying the same events always gives
 * the same state and the same command always gives the same events.
 */
export interface Decider<Command, Event, State> {
  readonly decide: (command: Command, state: State) => readonly Event[];
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
}

/** The result of handling one command: the events it produced and the state after them. */
export interface Decision<Event, State> {
  readonly events: readonly Event[];
  readonly state: State;
}

/** Folds events into a state, starting from `state` (the decider's initial state by default). */
export function evolveAll<Command, Event, State>(
  decider: Decider<Command, Event, State>,
  events: Iterable<Event>,
  state: State = decider.initialState(),
): State {
  let current = state;
  for (const event of events) current = decider.evolve(current, event);
  return current;
}

/** Decides a command against a state and folds the resulting events into it. */
export function handleCommand<Command, Event, State>(decider: Decider<Command, Event, State>, state: State, command: Command): Decision<Event, State> {
  const events = decider.decide(command, state);
  return { events, state: evolveAll(decider, events, state) };
}

/**
 * The `default` branch of an exhaustive switch: a compile error when a case is missing, and a
 * clear error at run time when a value from outside the type system (a newer producer, a corrupt
 * snapshot) gets through anyway.
 */
export function assertNever(value: never, what: string): never {
  const type = typeof value === 'object' && value !== null && 'type' in value ? String((value as { type: unknown }).type) : String(value);
  throw new WritError('DECIDER_UNKNOWN_VARIANT', `unknown ${what}: ${type}`, { field: what, rule: 'must be a known variant' });
}
