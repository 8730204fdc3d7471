// Scenario tests of pure state machines (step(state, event) → { state, effects }) read as
// scripts: feed an event, get its effects; the state so far is always at hand.

export interface Script<S, E, F> {
  readonly state: S;
  on(event: E): F[];
}

export function script<S, E, F>(initial: S, step: (state: S, event: E) => { state: S; effects: F[] }): Script<S, E, F> {
  let state = initial;
  return {
    get state() {
      return state;
    },
    on(event: E): F[] {
      const result = step(state, event);
      state = result.state;
      return result.effects;
    },
  };
}
