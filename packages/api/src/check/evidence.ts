import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CommandHeaders } from "../kafka/messages.ts";

/*
 * Evidence from outside the database, in the formats `baton-check` reads: what workers sent and were
 * told, what their downstream effects did with fence tokens, which runs a driver started, which
 * faults were injected. The chaos suite writes all of it; an operator's own workers can write the
 * same lines to have their reports checked too.
 */

/** One line of a worker's report log (JSON lines): a report before it goes out, and Baton's answer. */
export type ReportLine =
  /** First line of a worker's log: every COMPLETED or FAILED attempt it held must match a report here. */
  | { type: "worker"; workerId: string; at: string }
  | {
      type: "sent";
      /** Pairs the answer with its report, per file. */
      seq: number;
      op: "complete" | "fail" | "release";
      workerId: string;
      executionId: string;
      fenceToken: number;
      output?: unknown;
      at: string;
    }
  | {
      type: "answer";
      seq: number;
      /** `ok`: accepted (or `duplicate`); else the error code (UNAVAILABLE: no answer came). */
      ok: boolean;
      code?: string;
      duplicate?: boolean;
      at: string;
    };

/**
 * One line of a Kafka service's log (JSON lines, `kafka-*.jsonl`), for invariant I8: every command
 * it took off a command topic, and every reply it sent (before it goes, then where it landed).
 */
export type KafkaLine =
  /** First line of a service's log. */
  | { type: "kafka-worker"; workerId: string; at: string }
  | {
      type: "command";
      workerId: string;
      /** Where the command was read: topic, partition and offset. */
      topic: string;
      partition: number;
      offset: string;
      executionId: string;
      fenceToken: number;
      instanceId: string;
      step: string;
      kind: "DO" | "UNDO";
      attempt: number;
      at: string;
    }
  | {
      type: "reply";
      /** Pairs the reply with where it landed, per file. */
      seq: number;
      workerId: string;
      executionId: string;
      fenceToken: number;
      instanceId: string;
      step: string;
      kind: "DO" | "UNDO";
      status: boolean;
      output?: unknown;
      /** 0 for a reply, n for the n-th copy of it sent again on purpose. */
      copy: number;
      /** How long the reply was held back on purpose (0: not at all). */
      delayedMs: number;
      /** When it was handed to the producer. */
      at: string;
    }
  /** The broker took the reply: the message's topic, partition and offset, as Baton names it when applied. */
  | { type: "reply-sent"; seq: number; topic: string; partition: number; offset: string; at: string }
  | { type: "reply-failed"; seq: number; error: string; at: string };

/**
 * The line a Kafka service logs for a command it took off a command topic: where it read it and
 * what its headers say.
 */
export function commandLine(
  workerId: string,
  read: { topic: string; partition: number; offset: string },
  headers: Pick<CommandHeaders, "flowId" | "stepName" | "action" | "executionId" | "fenceToken" | "attempt">,
): KafkaLine {
  return {
    type: "command",
    workerId,
    topic: read.topic,
    partition: read.partition,
    offset: read.offset,
    executionId: headers.executionId,
    fenceToken: headers.fenceToken,
    instanceId: headers.flowId,
    step: headers.stepName,
    kind: headers.action,
    attempt: headers.attempt,
    at: new Date().toISOString(),
  };
}

/** A run a driver asked for, and what Baton answered (invariant I6). */
export interface StartLine {
  workflow: string;
  runId: string;
  instanceId: string;
  created: boolean;
  at: string;
}

/** A fault the suite injected. */
export interface FaultLine {
  kind: string;
  at: string;
  detail?: unknown;
}

/**
 * The downstream ledger: `effects` keeps, per (instance, step), the effect with the highest fence
 * it accepted (lower fences are refused); `effect_log` has every write it was asked for.
 */
export const LEDGER_SCHEMA = `
CREATE TABLE IF NOT EXISTS effects (
  instance_id   uuid        NOT NULL,
  step          text        NOT NULL,
  kind          text        NOT NULL,
  fence         bigint      NOT NULL,
  execution_id  uuid        NOT NULL,
  worker_id     text        NOT NULL,
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (instance_id, step)
);
CREATE TABLE IF NOT EXISTS effect_log (
  id            bigserial   PRIMARY KEY,
  instance_id   uuid        NOT NULL,
  step          text        NOT NULL,
  kind          text        NOT NULL,
  fence         bigint      NOT NULL,
  execution_id  uuid        NOT NULL,
  worker_id     text        NOT NULL,
  accepted      boolean     NOT NULL,
  at            timestamptz NOT NULL
);`;

/**
 * One fenced write to the ledger: accepted when no higher fence was seen for (instance, step); the
 * same fence again is accepted (a retried write). Every call is logged, accepted or not.
 * Parameters: instance_id, step, kind, fence, execution_id, worker_id. Returns one row `{accepted}`.
 */
export const LEDGER_WRITE = `
WITH w AS (
  INSERT INTO effects AS e (instance_id, step, kind, fence, execution_id, worker_id, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())
  ON CONFLICT (instance_id, step) DO UPDATE
    SET kind = excluded.kind, fence = excluded.fence, execution_id = excluded.execution_id,
        worker_id = excluded.worker_id, updated_at = excluded.updated_at
    WHERE e.fence <= excluded.fence
  RETURNING 1
)
INSERT INTO effect_log (instance_id, step, kind, fence, execution_id, worker_id, accepted, at)
SELECT $1, $2, $3, $4, $5, $6, EXISTS (SELECT 1 FROM w), clock_timestamp()
RETURNING accepted`;

export interface EffectRow {
  instanceId: string;
  step: string;
  kind: string;
  fence: number;
  executionId: string;
}

export interface EffectLogRow extends EffectRow {
  workerId: string;
  accepted: boolean;
}

/** Where the evidence is: a directory of `*.jsonl` files by kind, and the ledger database. */
export interface EvidenceSource {
  dir: string;
  ledgerUrl?: string;
}

export interface Evidence {
  /** Report logs, one array per file (a worker process), in file order. */
  reports: ReportLine[][];
  /** Kafka services' logs, one array per file. */
  kafka: KafkaLine[][];
  starts: StartLine[];
  faults: FaultLine[];
  effects?: EffectRow[];
  effectLog?: EffectLogRow[];
}

/**
 * Reads `reports-*.jsonl`, `kafka-*.jsonl`, `starts*.jsonl` and `faults*.jsonl` from `dir`. A last
 * line cut short (a process killed while writing) is dropped.
 */
export async function readEvidenceFiles(dir: string): Promise<Omit<Evidence, "effects" | "effectLog">> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".jsonl")).sort();
  const read = async <T>(name: string) => parseLines<T>(await readFile(join(dir, name), "utf8"));
  const reports: ReportLine[][] = [];
  const kafka: KafkaLine[][] = [];
  const starts: StartLine[] = [];
  const faults: FaultLine[] = [];
  for (const name of names) {
    if (name.startsWith("reports-")) reports.push(await read<ReportLine>(name));
    else if (name.startsWith("kafka-")) kafka.push(await read<KafkaLine>(name));
    else if (name.startsWith("starts")) starts.push(...(await read<StartLine>(name)));
    else if (name.startsWith("faults")) faults.push(...(await read<FaultLine>(name)));
  }
  return { reports, kafka, starts, faults };
}

function parseLines<T>(text: string): T[] {
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line cut short by SIGKILL
    }
  }
  return out;
}

/**
 * An audit of lease grants, installed in a Baton database by the chaos suite (an operator may too):
 * a row per lease handed out, written by the transaction that handed it out, so that with
 * `track_commit_timestamp = on` the checker knows when each grant committed (invariant I7: none
 * after a pause or cancel committed).
 */
export const LEASE_GRANT_AUDIT = `
CREATE TABLE IF NOT EXISTS lease_grants (
  execution_id  uuid        NOT NULL,
  instance_id   uuid        NOT NULL,
  fence_token   bigint      NOT NULL,
  holder        text        NOT NULL,
  granted_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION lease_grant_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lease_grants (execution_id, instance_id, fence_token, holder)
  VALUES (NEW.execution_id, NEW.workflow_instance_id, NEW.fence_token, NEW.lease_holder);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS lease_grant_audit ON task_leases;
CREATE TRIGGER lease_grant_audit AFTER INSERT OR UPDATE OF fence_token ON task_leases
  FOR EACH ROW WHEN (NEW.state = 'LEASED') EXECUTE FUNCTION lease_grant_audit();`;
