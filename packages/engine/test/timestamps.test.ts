import fc from "fast-check";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { parseTimestamptz } from "../src/db/timestamps.ts";

const pgParse = pg.types.getTypeParser(1184, "text") as (text: string) => Date | number;
const same = (text: string) => expect(Number(parseTimestamptz(text))).toBe(Number(pgParse(text)));

describe("timestamptz as Postgres writes it", () => {
  it("reads the same instant as pg's own parser", () => {
    for (const text of [
      "2026-12-02 14:11:59.123456+00",
      "2026-12-02 14:11:59+00",
      "2026-12-02 14:11:59.9+05:30",
      "1999-12-31 23:59:59.999999-08",
      "2024-02-29 00:00:00.000001+00",
      "9999-01-01 00:00:00+00",
      "0099-01-01 00:00:00+00",
      "2026-12-02 14:11:59.5+05:30:15",
      "2026-12-02 14:11:59.123456+00 BC",
      "infinity",
      "-infinity",
    ]) {
      same(text);
    }
  });

  it("agrees with pg's parser on any instant and whole-minute offset", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("1000-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true }),
        fc.integer({ min: 0, max: 999_999 }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        (date, micros, offset) => {
          const local = new Date(date.getTime() + offset * 60_000).toISOString();
          const hh = String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0");
          const mm = String(Math.abs(offset) % 60).padStart(2, "0");
          const zone = `${offset < 0 ? "-" : "+"}${hh}${mm === "00" ? "" : `:${mm}`}`;
          same(`${local.slice(0, 10)} ${local.slice(11, 19)}.${String(micros).padStart(6, "0")}${zone}`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
