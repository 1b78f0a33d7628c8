import pg from "pg";

const TIMESTAMPTZ = 1184;
const slowTimestamp = pg.types.getTypeParser(TIMESTAMPTZ, "text") as (text: string) => Date;
const ZERO = 48;

/**
 * Reads a `timestamptz` as Postgres writes it in text (`2026-12-02 14:11:59.123456+00`, or with an
 * offset such as `+05:30`) by character positions instead of pg's regular expressions: every
 * attempt row carries five timestamps and the hot path reads thousands of rows a second (pg's
 * parser was 5% of the engine's CPU in a drain). Anything else (other years, BC, infinity, odd
 * offsets) goes to pg's own parser, so results are the same Dates either way.
 */
export function parseTimestamptz(text: string): Date {
  const n = text.length;
  if (n < 22 || text.charCodeAt(4) !== 45 || text.charCodeAt(10) !== 32 || text.charCodeAt(19) === 58) return slowTimestamp(text);
  let i = 19;
  let ms = 0;
  if (text.charCodeAt(i) === 46) {
    // Fraction: the first three digits are the milliseconds (Date keeps no more; pg truncates too).
    let scale = 100;
    for (i++; i < n && text.charCodeAt(i) >= ZERO && text.charCodeAt(i) <= 57; i++) {
      ms += (text.charCodeAt(i) - ZERO) * scale;
      scale /= 10;
    }
    ms = Math.floor(ms);
  }
  const sign = text.charCodeAt(i);
  const rest = n - i;
  if ((sign !== 43 && sign !== 45) || (rest !== 3 && rest !== 6) || (rest === 6 && text.charCodeAt(i + 3) !== 58)) {
    return slowTimestamp(text);
  }
  const offsetMinutes = (sign === 43 ? 1 : -1) * (two(text, i + 1) * 60 + (rest === 6 ? two(text, i + 4) : 0));
  const year = two(text, 0) * 100 + two(text, 2);
  const utc = Date.UTC(year, two(text, 5) - 1, two(text, 8), two(text, 11), two(text, 14), two(text, 17), ms) - offsetMinutes * 60_000;
  return year < 1000 || Number.isNaN(utc) ? slowTimestamp(text) : new Date(utc);
}

/** The number written by the two digits at `i`. */
function two(text: string, i: number): number {
  return (text.charCodeAt(i) - ZERO) * 10 + text.charCodeAt(i + 1) - ZERO;
}

/** pg's type parsers with the fast `timestamptz` one: for the pool's `types` option. */
export const batonTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === TIMESTAMPTZ && format !== "binary") return parseTimestamptz;
    return pg.types.getTypeParser(oid, format);
  },
};
