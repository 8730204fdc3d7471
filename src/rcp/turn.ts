// Yielding to the event loop (I/O and timers run) rather than only to microtasks.

const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;

/** Runs `callback` after pending I/O has been handled. */
export function onNextTurn(callback: () => void): void {
  if (immediate) immediate(callback);
  else setTimeout(callback, 0);
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => onNextTurn(resolve));
}
