/**
 * The smallest string greater than every string that starts with `prefix` (in code point order: SQLite's BINARY
 * collation and MongoDB's simple one), or null when there is none. Lets a prefix search use the index without LIKE escaping.
 */
export function prefixUpperBound(prefix: string): string | null {
  const chars = Array.from(prefix);
  while (chars.length > 0) {
    const last = chars.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return chars.join("") + String.fromCodePoint(next);
    }
  }
  return null;
}
