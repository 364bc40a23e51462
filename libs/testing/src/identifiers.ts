/**
 * The text with every run of 8 or more hex digits and dashes (UUIDs, hashes, trace ids, timestamps)
 * cut out, so that a search for a short leaked value (a card's last four digits) cannot hit a
 * random id by chance, while the value standing on its own ("4242", "card 4242 charged") is still found.
 */
export function withoutIdentifiers(text: string | Uint8Array): string {
  const plain = typeof text === 'string' ? text : Buffer.from(text).toString('latin1');
  return plain.replace(/[0-9A-Fa-f-]{8,}/g, '…');
}
