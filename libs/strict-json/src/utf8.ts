/**
 * The byte offset of the first ill-formed UTF-8 sequence, or -1 when all of `bytes` is UTF-8.
 * Table 3-7 of the Unicode Standard ("Well-Formed UTF-8 Byte Sequences"): no overlong forms, no
 * encoded surrogates (U+D800..U+DFFF, the CESU-8/WTF-8 way to smuggle a lone surrogate), nothing
 * above U+10FFFF, no truncated sequence. Only used to say *where* the fatal decoder stopped.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const length = bytes.length;
  let i = 0;
  while (i < length) {
    const lead = bytes[i] ?? 0;
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    let size: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) size = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      size = 3;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      size = 4;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return i;
    if (i + size > length) return i;
    const second = bytes[i + 1] ?? 0;
    if (second < low || second > high) return i;
    for (let k = 2; k < size; k += 1) {
      const next = bytes[i + k] ?? 0;
      if (next < 0x80 || next > 0xbf) return i;
    }
    i += size;
  }
  return -1;
}

/** True when the ill-formed sequence at `offset` is a UTF-16 surrogate encoded as if it were a code point. */
export function isEncodedSurrogate(bytes: Uint8Array, offset: number): boolean {
  const second = bytes[offset + 1] ?? 0;
  return bytes[offset] === 0xed && second >= 0xa0 && second <= 0xbf;
}
