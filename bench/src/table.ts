import type { Figure } from "./figure.ts";

/**
 * The one table of a run, in Markdown so it pastes into docs/benchmarks.md. The ratio column is
 * each figure divided by the Baton figure it names (`ref`): above 1 means more (throughput: faster;
 * latency: slower) than Baton.
 */
export function renderTable(figures: Figure[]): string {
  const byKey = new Map(figures.filter((f) => f.key).map((f) => [f.key as string, f]));
  const header = ["scenario", "system", "figure", "ratio to Baton", "note"];
  const rows: string[][] = [];
  let lastScenario = "";
  for (const f of figures) {
    const scenario = f.scenario === lastScenario ? "" : f.scenario;
    lastScenario = f.scenario;
    rows.push([scenario, f.system, formatFigure(f), formatRatio(f, byKey), f.failed ?? f.note ?? ""]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function formatFigure(f: Figure): string {
  if (f.failed) return "failed";
  if (!f.values) return "n/a";
  const numbers = f.values.map((v) => formatNumber(v, f.unit)).join(" / ");
  const labels = f.labels ? ` (${f.labels.join(" / ")})` : "";
  return `${numbers} ${f.unit}${labels}`;
}

function formatRatio(f: Figure, byKey: Map<string, Figure>): string {
  if (!f.ref || !f.values || f.failed) return "";
  const base = byKey.get(f.ref);
  if (!base?.values || base.failed) return "";
  if (base === f) return "1.00 (Baton)";
  return f.values.map((v, i) => ratio(v, base.values?.[i])).join(" / ");
}

function ratio(value: number, base: number | undefined): string {
  if (base === undefined || base === 0) return "—";
  const r = value / base;
  return r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

export function formatNumber(value: number, unit: string): string {
  if (unit === "ms") return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString("en-US");
  if (unit === "MB") return value < 10 ? value.toFixed(2) : value.toFixed(1);
  return Math.round(value).toLocaleString("en-US");
}
