// What crash-test op `id` writes at absolute byte positions [offset, offset + length):
// 16-byte cells "w<id>@<cell>" padded with '.', so every block tells which op wrote it
// and where. Plain JS, shared by the child process and the test that checks it.
export function content(id, offset, length) {
  const out = new Uint8Array(length);
  let cell = -1;
  let text = '';
  for (let i = 0; i < length; i++) {
    const p = offset + i;
    if (p >>> 4 !== cell) {
      cell = p >>> 4;
      text = `w${id}@${cell}`.padEnd(16, '.');
    }
    out[i] = text.charCodeAt(p & 15);
  }
  return out;
}
