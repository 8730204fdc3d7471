export function content(id: number, offset: number, length: number): Uint8Array;
