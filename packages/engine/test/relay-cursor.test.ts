import { describe, expect, it } from "vitest";
import { advanceCursor, initialCursor, readCursor } from "../src/domain/relay-cursor.ts";
import type { RelayBatch, RelayEventRow } from "../src/store/events-relay.ts";

const event = (position: number): RelayEventRow => ({
  position: String(position),
  instanceId: "i",
  namespace: "default",
  workflowName: "w",
  runId: "r",
  sequenceNumber: position,
  eventType: "E",
  payload: {},
  createdAt: new Date(0),
});
const batch = (positions: number[], inProgressUpTo: string | null): RelayBatch => ({ events: positions.map(event), inProgressUpTo });

describe("relay cursor", () => {
  it("steps over positions still in flight as gaps, fills them later, drops them once their transactions ended", () => {
    // 3 and 4 are invisible while transactions up to xid 100 run.
    let cursor = advanceCursor(initialCursor(), batch([1, 2, 5], "100"), "90");
    expect(cursor).toEqual({
      position: "5",
      gaps: [
        { position: "3", until: "101" },
        { position: "4", until: "101" },
      ],
    });
    // 3 commits; 4 is still possibly in flight (the oldest running transaction is 95).
    cursor = advanceCursor(cursor, batch([3, 6], null), "95");
    expect(cursor).toEqual({ position: "6", gaps: [{ position: "4", until: "101" }] });
    // Every transaction up to 100 has ended and 4 is still not there: it rolled back.
    cursor = advanceCursor(cursor, batch([], null), "101");
    expect(cursor).toEqual({ position: "6", gaps: [] });
  });

  it("records no gap when nothing was in flight (the positions were rolled back)", () => {
    expect(advanceCursor(initialCursor(), batch([2, 7], null), "50")).toEqual({ position: "7", gaps: [] });
  });

  it("reads a stored cursor defensively", () => {
    expect(readCursor(null)).toEqual(initialCursor());
    expect(readCursor({ position: 12 })).toEqual(initialCursor());
    expect(readCursor({ position: "12", gaps: [{ position: "10", until: "7" }, { position: "x" }] })).toEqual({
      position: "12",
      gaps: [{ position: "10", until: "7" }],
    });
  });
});
