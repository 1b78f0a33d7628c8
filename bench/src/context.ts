import type { PgServer } from "./database.ts";
import type { Figure } from "./figure.ts";
import type { Options, ScenarioName, SystemName } from "./options.ts";

/** What every scenario gets: the settings, the server its databases live on, progress output. */
export interface Context {
  options: Options;
  server: PgServer;
  has(system: SystemName): boolean;
  /** A progress line on stderr (the table goes to stdout). */
  progress(line: string): void;
}

export interface Scenario {
  name: ScenarioName;
  run(ctx: Context): Promise<Figure[]>;
}

/** The pool a system may open for `concurrency` workers: one connection each and one spare, capped. */
export function poolFor(ctx: Context, concurrency: number): number {
  return Math.min(concurrency + 1, ctx.options.pool);
}

export const count = (n: number) => n.toLocaleString("en-US");
