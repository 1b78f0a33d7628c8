import { BatonError, parseDefinition } from "@baton/engine";
import { describe, expect, it } from "vitest";

function invalidFields(raw: unknown): string[] {
  try {
    parseDefinition(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe("INVALID_DEFINITION");
    return ((error as BatonError).details.fields as { field: string }[]).map((f) => f.field);
  }
  throw new Error("expected the definition to be rejected");
}

describe("workflow definitions", () => {
  it("fills in defaults: sequential order, queues, leases, retries, undo queues", () => {
    const def = parseDefinition({
      name: "tenantCreation",
      steps: [
        { name: "createRealm", queue: "realm-service", undo: true },
        { name: "createClient", retry: { maxAttempts: 5 } },
      ],
    });
    expect(def.type).toBe("sequential");
    expect(def.namespace).toBe("default");
    expect(def.steps[0]).toMatchObject({ queue: "realm-service", dependsOn: [], undo: { queue: "realm-service.undo", leaseMs: 30_000 } });
    expect(def.steps[1]).toMatchObject({
      queue: "tenantCreation.createClient",
      dependsOn: ["createRealm"],
      undo: null,
      retry: { maxAttempts: 5, backoffMs: 1000 },
    });
  });

  it("treats simultaneous as parallel: no step waits for another", () => {
    const def = parseDefinition({ name: "fanout", type: "simultaneous", steps: [{ name: "a" }, { name: "b" }] });
    expect(def.type).toBe("parallel");
    expect(def.steps.map((s) => s.dependsOn)).toEqual([[], []]);
  });

  it("maps the legacy registration format: Kafka transport, an UNDO per step, seq order, three attempts", () => {
    const def = parseDefinition({
      orchName: "tenantCreation",
      as: "initiator",
      type: "sequential",
      steps: [
        { seq: 2, name: "createClient", objectType: "String" },
        { seq: 1, name: "createRealm", objectType: "String" },
      ],
    });
    expect(def.name).toBe("tenantCreation");
    expect(def.steps.map((s) => s.name)).toEqual(["createRealm", "createClient"]);
    expect(def.steps.every((s) => s.transport === "kafka" && s.undo !== null && s.retry.maxAttempts === 3)).toBe(true);
    expect(def.steps[1]?.dependsOn).toEqual(["createRealm"]);
  });

  it("rejects cycles, unknown dependencies and duplicate names, naming the field", () => {
    expect(
      invalidFields({
        name: "loop",
        type: "dag",
        steps: [
          { name: "a", dependsOn: ["c"] },
          { name: "b", dependsOn: ["a"] },
          { name: "c", dependsOn: ["b"] },
        ],
      }),
    ).toEqual(["steps"]);
    expect(invalidFields({ name: "x", type: "dag", steps: [{ name: "a", dependsOn: ["nope"] }] })).toEqual(["steps.0.dependsOn"]);
    expect(invalidFields({ name: "x", steps: [{ name: "a" }, { name: "a" }] })).toEqual(["steps.1.name"]);
    expect(invalidFields({ name: "x", steps: [{ name: "a", retry: { maxAttempts: 0 } }] })).toEqual(["steps.0.retry.maxAttempts"]);
    expect(invalidFields({ name: "x", type: "diagonal", steps: [{ name: "a" }] })).toEqual(["type"]);
    expect(invalidFields({ name: "x", steps: [] })).toEqual(["steps"]);
    expect(invalidFields({ steps: [{ name: "a" }] })).toEqual(["name"]);
    // An unknown field is named itself, and a known mistake says what to write instead.
    expect(invalidFields({ name: "x", steps: [{ name: "a", colour: "red" }] })).toEqual(["steps.0.colour"]);
    expect(invalidFields({ name: "x", retries: 3, steps: [{ name: "a", timeout: 5, dependencies: [] }] })).toEqual([
      "steps.0.timeout",
      "steps.0.dependencies",
      "retries",
    ]);
    const hinted = (() => {
      try {
        parseDefinition({ name: "x", steps: [{ name: "a", maxRetries: 5 }] });
      } catch (error) {
        return (error as BatonError).message;
      }
    })();
    expect(hinted).toContain("unknown field `maxRetries`: use `retry: { maxAttempts }`");
  });
});
