import { readFile } from "node:fs/promises";
import { INSTANCE_STATES } from "@baton/engine";
import { describe, expect, it } from "vitest";
import { LEGACY_STATUSES, legacyInstanceStatus, legacyStepStatus, markdownRow } from "../../src/http/routes/compat/legacy-statuses.ts";

// The old status names: one table in code, the same table in docs/migrating.md.
describe("old status names", () => {
  it("are listed in docs/migrating.md exactly as the code maps them", async () => {
    // Cells compared trimmed: the formatter pads table columns.
    const cells = (line: string) =>
      line
        .split("|")
        .map((cell) => cell.trim())
        .join("|");
    const doc = (await readFile(new URL("../../../../docs/migrating.md", import.meta.url), "utf8")).split("\n").map(cells);
    const missing = LEGACY_STATUSES.map(markdownRow).filter((row) => !doc.includes(cells(row)));
    expect(missing).toEqual([]);
  });

  it("name every Baton instance state, for Spring runs and FastAPI tasks", () => {
    const springRunNames = LEGACY_STATUSES.filter((r) => r.system === "spring" && r.of === "run").map((r) => r.name);
    for (const state of INSTANCE_STATES) {
      expect(springRunNames).toContain(legacyInstanceStatus("spring", "run", state));
      expect(["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"]).toContain(legacyInstanceStatus("fastapi", "task", state));
    }
    expect(legacyInstanceStatus("spring", "run", "COMPENSATED")).toBe("UNDONE");
    expect(legacyInstanceStatus("spring", "run", "COMPENSATING")).toBe("UNDOING");
  });

  it("tell a retried failure from an exhausted one", () => {
    const failed = (attempt: number) => ({ state: "FAILED" as const, attempt, maxAttempts: 3 });
    expect(legacyStepStatus("spring", "step", "DO", failed(2))).toBe("DO_FAIL");
    expect(legacyStepStatus("spring", "step", "DO", failed(3))).toBe("RETRY_EXHAUSTED");
    expect(legacyStepStatus("spring", "step", "DO", { state: "COMPLETED", attempt: 1, maxAttempts: 3 })).toBe("DO_SUCCESS");
    expect(legacyStepStatus("spring", "step", "UNDO", { state: "COMPLETED", attempt: 1, maxAttempts: 3 })).toBe("UNDO_SUCCESS");
    expect(legacyStepStatus("spring", "step", "DO")).toBe("PENDING");
    expect(legacyStepStatus("fastapi", "service request", "DO", failed(2))).toBe("IN_PROGRESS");
    expect(legacyStepStatus("fastapi", "service request", "DO", failed(3))).toBe("FAILED");
    expect(legacyStepStatus("fastapi", "service request", "DO", { state: "CANCELLED", attempt: 1, maxAttempts: 3 })).toBe("FAILED");
  });
});
