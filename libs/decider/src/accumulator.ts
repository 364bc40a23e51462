/**
 * Collects the events of one decision while keeping the state they lead to, for commands whose
 * later events depend on earlier ones (a run that starts and then admits the proposals that were
 * waiting for it; an expiry sweep that must not end the same action twice).
 */
export interface Accumulator<Event, State> {
  readonly state: State;
  readonly events: readonly Event[];
  emit(...events: readonly Event[]): void;
}

export function accumulator<Event, State>(evolve: (state: State, event: Event) => State, initial: State): Accumulator<Event, State> {
  let state = initial;
  const events: Event[] = [];
  return {
    get state() {
      return state;
    },
    events,
    emit(...emitted) {
      for (const event of emitted) {
        events.push(event);
        state = evolve(state, event);
      }
    },
  };
}
