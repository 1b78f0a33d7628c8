import { InstanceSummarySchema } from "@baton/contract";
import { type InstanceState, TERMINAL_STATES } from "@baton/worker-sdk";
import { type Command, Option } from "commander";
import { type CommandContext, contextOf, parseJsonObject, parseLimit } from "./command-context.ts";
import { describeInstance, eventLine, instanceRows } from "./instance-text.ts";
import { fields, jsonText, nextPageHint } from "./output.ts";

/** How often `runs events --follow` looks for new events. */
const FOLLOW_INTERVAL_MS = 1000;

/**
 * `baton runs ...`: list, describe, start and operate workflow instances. The same commands are
 * also top-level (`baton list`, `baton get <id>`, `baton start <workflow>`, ...), as in Temporal's
 * and Conductor's command lines.
 */
export function runsCommands(program: Command): void {
  runCommandsUnder(program.command("runs").description("List, inspect, start and operate workflow runs (instances)"));
  runCommandsUnder(program);
}

function runCommandsUnder(runs: Command): void {
  runs
    .command("list")
    .description("List runs, newest first")
    .option("--workflow <name>", "only runs of this workflow")
    .addOption(new Option("--state <state>", "only runs in this state").choices(InstanceSummarySchema.shape.state.options))
    .option("--namespace <namespace>", "only runs of this namespace")
    .option("--limit <n>", "page size, 1 to 500 (default 50)", parseLimit)
    .option("--cursor <cursor>", "the page after the one that printed this cursor")
    .action(
      async (opts: { workflow?: string; state?: InstanceState; namespace?: string; limit?: number; cursor?: string }, cmd: Command) => {
        const { api, print } = contextOf(cmd);
        const page = await api.runs.list(opts);
        print.out(print.json ? jsonText(page) : instanceRows(page.items) + nextPageHint(page.nextCursor));
      },
    );

  runs
    .command("get")
    .alias("describe")
    .description("A run's steps, every attempt with its worker, fence token and lease, and its event timeline")
    .argument("<instanceId>", "the instance id (a UUID)")
    .action(async (instanceId: string, _opts: unknown, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const view = await api.runs.get(instanceId);
      print.out(print.json ? jsonText(view) : describeInstance(view));
    });

  runs
    .command("start")
    .description("Start a run of a workflow's latest version (idempotent by --run-id)")
    .argument("<workflow>", "the workflow's name")
    .option("--run-id <runId>", "makes the start idempotent: the same runId starts nothing new (default: a new UUID)")
    .option("--input <json|@file>", "the run's input, a JSON object (or @path of a file holding one)", parseJsonObject("--input"))
    .option("--namespace <namespace>", "the workflow's namespace (default: default)")
    .action(async (workflow: string, opts: { runId?: string; input?: Record<string, unknown>; namespace?: string }, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const started = await api.runs.start(workflow, opts);
      if (print.json) return print.out(jsonText(started));
      print.out(
        fields([
          ["instance", started.instanceId],
          ["run", started.runId],
          ["state", started.state],
          ["created", started.created ? "yes" : "no: a run with this runId already existed"],
        ]),
      );
    });

  const lifecycle = (name: "pause" | "resume" | "cancel", description: string) =>
    runs
      .command(name)
      .description(description)
      .argument("<instanceId>", "the instance id")
      .action(async (instanceId: string, _opts: unknown, cmd: Command) => {
        const ctx = contextOf(cmd);
        printState(ctx, instanceId, await ctx.api.runs[name](instanceId));
      });
  lifecycle("pause", "Pause a RUNNING run: nothing more is handed out until it is resumed");
  lifecycle("resume", "Resume a PAUSED run");
  lifecycle("cancel", "Cancel a RUNNING or PAUSED run: pending attempts are cancelled, leased ones can no longer report");

  runs
    .command("compensate")
    .description("Start compensation (UNDO of completed steps) by hand, also of a COMPLETED run")
    .argument("<instanceId>", "the instance id")
    .option("--from <step>", "undo only this step and the steps it depends on")
    .action(async (instanceId: string, opts: { from?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      printState(ctx, instanceId, await ctx.api.runs.compensate(instanceId, opts.from ? { fromTaskId: opts.from } : {}));
    });

  runs
    .command("retry")
    .description("Re-run a failed step of a FAILED or COMPENSATION_FAILED run")
    .argument("<instanceId>", "the instance id")
    .argument("<step>", "the step's name")
    .option("--input <json|@file>", "run the step with this input instead (a JSON object)", parseJsonObject("--input"))
    .action(async (instanceId: string, step: string, opts: { input?: Record<string, unknown> }, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const retried = await api.runs.retry(instanceId, step, opts.input ? { input: opts.input } : {});
      print.out(
        print.json
          ? jsonText(retried)
          : `${step} (${retried.kind}) scheduled again as attempt ${retried.attempt}: ${retried.executionId}\n`,
      );
    });

  runs
    .command("events")
    .description("A run's event history as a timeline")
    .argument("<instanceId>", "the instance id")
    .option("--follow", "keep printing new events until the run ends")
    .action(async (instanceId: string, opts: { follow?: boolean }, cmd: Command) => {
      await printEvents(contextOf(cmd), instanceId, opts.follow === true);
    });
}

function printState({ print }: CommandContext, instanceId: string, answer: { state: InstanceState }): void {
  print.out(print.json ? jsonText(answer) : `${instanceId}: ${answer.state}\n`);
}

/**
 * Prints the history page by page; with `follow`, reads the last page again every second and
 * prints what is new, until the run has ended and nothing more came. `--json` prints one event per line.
 */
async function printEvents({ api, print }: CommandContext, instanceId: string, follow: boolean): Promise<void> {
  let pageCursor: string | undefined;
  let lastSeq = 0;
  let ended = false;
  for (;;) {
    const page = await api.events(instanceId, pageCursor ? { cursor: pageCursor } : {});
    for (const event of page.items) {
      if (event.sequenceNumber <= lastSeq) continue;
      lastSeq = event.sequenceNumber;
      print.out(print.json ? JSON.stringify(event) : eventLine(event));
    }
    if (page.nextCursor) {
      pageCursor = page.nextCursor;
      continue;
    }
    if (!follow || ended) return;
    // Once the run has ended, one more read prints the events written up to its end.
    ended = TERMINAL_STATES.includes((await api.runs.get(instanceId)).state);
    if (ended) continue;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_INTERVAL_MS));
  }
}
