import { describe, expect, it } from "vitest";
import { parseStart, UnusableMessage } from "../src/kafka/messages.ts";

// The start messages of orchestrator.execution.start: the reference formats keep working, and a
// field the bridge would drop is refused by name instead (the message goes to the dead-letter topic).

const start = (message: unknown) => parseStart(Buffer.from(JSON.stringify(message)));
const refusal = (message: unknown) => {
  try {
    start(message);
  } catch (error) {
    expect(error).toBeInstanceOf(UnusableMessage);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(message)} to be refused`);
};

describe("Kafka start messages", () => {
  it("reads the reference formats as before", () => {
    // reference/orchestrator-service-spring.md: payload is base64 of the JSON input.
    expect(start({ orchName: "tenantCreation", payload: "eyJ0ZW5hbnRJZCI6ICJ0ZXN0In0=" })).toEqual({
      workflow: "tenantCreation",
      namespace: undefined,
      runId: undefined,
      input: { tenantId: "test" },
    });
    // DESIGN §8, and the DO/UNDO examples' names.
    expect(start({ workflow: "w", runId: "r-1", input: { n: 1 }, namespace: "default" })).toEqual({
      workflow: "w",
      namespace: "default",
      runId: "r-1",
      input: { n: 1 },
    });
    expect(start({ orchestrationName: "w", payload: { tenantName: "acme-corp" } }).input).toEqual({ tenantName: "acme-corp" });
    // The same name in two fields names one workflow.
    expect(start({ workflow: "w", orchName: "w", input: {} }).workflow).toBe("w");
  });

  it("refuses a field it would drop, naming it and what to send instead", () => {
    expect(refusal({ orchName: "w", data: { n: 1 } })).toBe("start: unknown field `data`: use `input` (or `payload`)");
    expect(refusal({ orchName: "w", flowId: "f-1", input: {} })).toContain("unknown field `flowId`: use `runId`");
    expect(refusal({ orchName: "w", input: {}, colour: "red" })).toMatch(
      /unknown field `colour` \(this object takes `workflow`, `orchName`/,
    );
    expect(refusal({ orchName: "w", waitMs: 1000 })).toContain("a Kafka start does not wait");
  });

  it("refuses data sent twice, two workflows, and a payload that is not base64", () => {
    expect(refusal({ orchName: "w", input: { a: 1 }, payload: "e30=" })).toContain("both `input` and `payload`");
    expect(refusal({ workflow: "a", orchName: "b" })).toBe("start: names 2 workflows (a, b); name one");
    expect(refusal({ orchName: "w", payload: "not base64!" })).toBe("start: payload: not base64");
    expect(refusal({ orchName: "w", payload: 42 })).toBe("start: payload: expected base64 of the payload's bytes, or a JSON object");
  });
});
