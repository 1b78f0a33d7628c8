import type { Command } from "commander";
import { contextOf } from "./command-context.ts";
import { fields, jsonText, table, time } from "./output.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `baton keys ...`: API keys, managed by an admin key over the API. */
export function keysCommands(program: Command): void {
  const keys = program.command("keys").description("API keys (needs an admin key once auth is on)");

  keys
    .command("create")
    .description("Create an API key; its secret token is printed this once")
    .requiredOption("--name <name>", "who the key is for")
    .requiredOption(
      "--role <role>",
      "admin (everything), operator (register, start, read, operate runs), starter (start and read runs) or worker (work its queues)",
    )
    .option("--namespace <namespace>", "a namespace it acts in (repeatable; default: default; '*' for all)", collect)
    .option("--queue <pattern>", "worker keys: a queue pattern it may work, '*' any run of characters (repeatable)", collect)
    .action(async (opts: { name: string; role: string; namespace?: string[]; queue?: string[] }, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const created = await api.createKey({
        name: opts.name,
        role: opts.role,
        ...(opts.namespace ? { namespaces: opts.namespace } : {}),
        ...(opts.queue ? { queues: opts.queue } : {}),
      });
      if (print.json) return print.out(jsonText(created));
      print.out(
        `${fields([
          ["key", created.key.keyId],
          ["name", created.key.name],
          ["role", created.key.role],
          ["namespaces", created.key.namespaces.join(", ")],
          ["queues", created.key.queues.join(", ")],
        ])}\nToken (shown only now; store it, send it as BATON_API_KEY or Authorization: Bearer):\n\n  ${created.token}\n`,
      );
    });

  keys
    .command("list")
    .description("Every key, revoked ones included (never their tokens)")
    .action(async (_opts: unknown, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const { items } = await api.keys();
      if (print.json) return print.out(jsonText({ items }));
      const rows = items.map((k) => ({
        key: k.keyId,
        name: k.name,
        role: k.role,
        namespaces: k.namespaces.join(", "),
        queues: k.queues.join(", "),
        created: time(k.createdAt),
        revoked: time(k.revokedAt),
      }));
      print.out(table(rows, ["key", "name", "role", "namespaces", "queues", "created", "revoked"]));
    });

  keys
    .command("revoke")
    .description("Revoke a key (other servers stop honouring it within 10 s)")
    .argument("<keyId>", "the key's id (16 hex digits, as `keys list` shows it)")
    .action(async (keyId: string, _opts: unknown, cmd: Command) => {
      const { api, print } = contextOf(cmd);
      const revoked = await api.revokeKey(keyId);
      print.out(print.json ? jsonText(revoked) : `${revoked.keyId} (${revoked.name}) revoked at ${time(revoked.revokedAt)}\n`);
    });
}
