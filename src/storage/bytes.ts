// A copy of bytes that is really a copy: Node's Buffer#slice returns a view of the same
// memory (it is subarray there), so `view.slice()` on a Buffer copies nothing.

/** A new Uint8Array with its own memory holding `view`'s bytes. */
export function copyBytes(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}
