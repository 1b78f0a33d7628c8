import { closeSync, openSync, writeSync } from "node:fs";
import type { ReportLine } from "@baton/api/check";
import { BatonError, isBatonError, type Transport } from "@baton/worker-sdk";

/**
 * Appends JSON lines to a file with a synchronous write each: a line is in the kernel before the
 * request it describes leaves, so it survives a SIGKILL of the process.
 */
export class LineLog {
  private readonly fd: number;
  constructor(path: string) {
    this.fd = openSync(path, "a");
  }
  write(line: object): void {
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }
  close(): void {
    closeSync(this.fd);
  }
}

type Sent = Extract<ReportLine, { type: "sent" }>;
type Lease = { executionId: string; workerId: string; fenceToken: number };
type Answer = { duplicate?: boolean } | BatonError;

/**
 * Wraps a transport so that every report a worker sends (complete, fail, release) is written to
 * `log` before it goes, and Baton's answer (or UNAVAILABLE, when none came) after.
 */
export function loggingTransport(inner: Transport, log: LineLog): Transport {
  let seq = 0;
  const sent = (op: Sent["op"], lease: Lease, output?: unknown): number => {
    const line: Sent = {
      type: "sent",
      seq: ++seq,
      op,
      workerId: lease.workerId,
      executionId: lease.executionId,
      fenceToken: lease.fenceToken,
      at: new Date().toISOString(),
    };
    if (output !== undefined) line.output = output;
    log.write(line);
    return line.seq;
  };
  const answered = (seqs: number[], answers: Answer[] | BatonError) => {
    const at = new Date().toISOString();
    for (const [i, s] of seqs.entries()) {
      const answer = Array.isArray(answers) ? answers[i] : answers;
      if (isBatonError(answer)) log.write({ type: "answer", seq: s, ok: false, code: answer.code, at });
      else log.write({ type: "answer", seq: s, ok: true, duplicate: answer?.duplicate === true, at });
    }
  };
  /** Sends with every item logged; a failure of the whole request is each item's answer. */
  async function logged<T extends Answer>(seqs: number[], call: () => Promise<T[]>): Promise<T[]> {
    try {
      const answers = await call();
      answered(seqs, answers);
      return answers;
    } catch (error) {
      answered(seqs, asFailure(error));
      throw error;
    }
  }
  return {
    ...inner,
    complete: async (r) => (await logged([sent("complete", r, r.output)], async () => [await inner.complete(r)]))[0] as never,
    fail: async (r) => (await logged([sent("fail", r)], async () => [await inner.fail(r)]))[0] as never,
    completeMany: (rs) =>
      logged(
        rs.map((r) => sent("complete", r, r.output)),
        () => inner.completeMany(rs),
      ),
    failMany: (rs) =>
      logged(
        rs.map((r) => sent("fail", r)),
        () => inner.failMany(rs),
      ),
    async release(leases) {
      const seqs = leases.map((l) => sent("release", l));
      try {
        const answer = await inner.release(leases);
        // Release answers a count, not per item: which ones were released the database says.
        answered(
          seqs,
          leases.map(() => ({ duplicate: false })),
        );
        return answer;
      } catch (error) {
        answered(seqs, asFailure(error));
        throw error;
      }
    },
  };
}

function asFailure(error: unknown): BatonError {
  return isBatonError(error) ? error : new BatonError("UNAVAILABLE", String(error));
}
