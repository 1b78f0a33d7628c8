import type { WorkflowView } from "@baton/engine";
import type { Command } from "commander";
import { contextOf, parseLimit, textOrFile } from "./command-context.ts";
import { fields, jsonText, nextPageHint, table, time } from "./output.ts";

/** `baton workflows ...` and `baton workers ...`: what is registered, and who serves it. */
export function catalogCommands(program: Command): void {
  const workflows = program.command("workflows").description("Workflow definitions and their readiness");

  workflows
    .command("list", { isDefault: true })
    .description("The latest version of each workflow, with whether someone serves every queue (a polling worker or a registered service)")
    .option("--namespace <namespace>", "only this namespace")
    .option("--limit <n>", "page size, 1 to 500 (default 100)", parseLimit)
    .option("--cursor <cursor>", "the page after the one that printed this cursor")
    .action(async (opts: { namespace?: string; limit?: number; cursor?: string }, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const page = await api.workflows(opts);
      if (print.json) return print.out(jsonText(page));
      const rows = page.items.map((w) => ({
        namespace: w.namespace,
        name: w.name,
        version: w.version,
        type: w.type,
        steps: w.steps.length,
        ready: w.ready ? "yes" : "no",
        registered: time(w.createdAt),
      }));
      print.out(table(rows, ["namespace", "name", "version", "type", "steps", "ready", "registered"]) + nextPageHint(page.nextCursor));
    });

  workflows
    .command("describe")
    .description("A workflow's latest definition: steps, queues, retries, undo, and who serves each queue")
    .argument("<name>", "the workflow's name")
    .option("--namespace <namespace>", "its namespace (default: default)")
    .action(async (name: string, opts: { namespace?: string }, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const view = await api.workflow(name, opts.namespace);
      print.out(print.json ? jsonText(view) : describeWorkflow(view));
    });

  // `baton workflows register <file>`, and `baton register <file>` for short.
  for (const parent of [workflows, program]) {
    parent
      .command("register")
      .description("Register a definition from a YAML or JSON file (a no-op when unchanged, else a new version)")
      .argument("<file>", "the definition file (.yaml, .yml or .json)")
      .action(async (file: string, _opts: unknown, cmd: Command) => {
        const { api, print } = contextOf(cmd);
        const text = textOrFile(`@${file}`, "<file>");
        const definition: unknown = /\.json$/i.test(file) ? JSON.parse(text) : (await import("yaml")).parse(text);
        const result = await api.runs.register(definition);
        if (print.json) return print.out(jsonText(result));
        print.out(`${result.namespace}/${result.name} version ${result.version}: ${result.created ? "registered" : "unchanged"}\n`);
      });
  }

  program
    .command("workers")
    .description("Workers that polled queues: which ones, when they were last seen, whether they are polling now")
    .option("--limit <n>", "page size, 1 to 500 (default 100)", parseLimit)
    .option("--cursor <cursor>", "the page after the one that printed this cursor")
    .action(async (opts: { limit?: number; cursor?: string }, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const page = await api.workers(opts);
      if (print.json) return print.out(jsonText(page));
      const rows = page.items.map((w) => ({
        worker: w.id,
        polling: w.ready ? "yes" : "no",
        "last seen": time(w.lastSeenAt),
        queues: w.queues.join(", "),
      }));
      print.out(table(rows, ["worker", "polling", "last seen", "queues"]) + nextPageHint(page.nextCursor));
    });
}

function describeWorkflow(view: WorkflowView): string {
  const header = fields([
    ["workflow", `${view.namespace}/${view.name}`],
    ["version", view.version],
    ["type", view.type],
    ["description", view.description],
    ["registered", time(view.createdAt)],
    ["ready", view.ready ? "yes: every queue has a polling worker or a registered service" : "no: nobody serves some queue"],
  ]);
  const steps = table(
    view.steps.map((s) => ({
      step: s.name,
      queue: s.queue,
      transport: s.transport,
      "depends on": s.dependsOn.join(", "),
      attempts: s.retry.maxAttempts,
      "lease ms": s.leaseMs,
      "served by": servedBy(s),
      undo: s.undo ? `${s.undo.queue} (${servedBy(s.undo)})` : "-",
    })),
    ["step", "queue", "transport", "depends on", "attempts", "lease ms", "served by", "undo"],
  );
  return `${header}\nSteps\n${steps}`;
}

/** Who serves a queue, in a table cell: the polling workers, else the registered services, else nobody. */
function servedBy(r: Pick<WorkflowView["steps"][number], "serving" | "workers" | "services">): string {
  if (r.serving === "polling") return `polling: ${r.workers.join(", ")}`;
  if (r.serving === "registered")
    return `registered: ${r.services.map((s) => `${s.service} (heard from ${time(s.lastContactAt)})`).join(", ")}`;
  return "nobody";
}
