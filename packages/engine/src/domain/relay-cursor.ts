/**
 * How far the events relay got, stored (fenced) in execution_leases.cursor.
 *
 * `events.position` is drawn from a sequence when the row is inserted, not when its transaction
 * commits, so position 7 can become visible before position 5. The relay therefore reads what is
 * visible past `position` and remembers each position it stepped over as a gap, together with the
 * transaction id `until` that the database's oldest running transaction must pass before the gap
 * is known to stay empty (its transaction rolled back). Gaps are read again on every pass; an event
 * that fills one is published then. Events of one instance are written under that instance's row
 * lock, so an instance's later event never becomes visible before its earlier one: publishing in
 * position order keeps every instance's events in sequence order.
 */
export interface RelayCursor {
  /** Every position up to here was published or is listed in `gaps` (decimal bigint). */
  position: string;
  gaps: { position: string; until: string }[];
}

/** A gap list this long means something is badly wrong (a stuck transaction); older gaps give way. */
export const MAX_RELAY_GAPS = 10_000;

/** What advanceCursor reads of a batch of the events relay (the store's RelayBatch). */
export interface RelayBatchPositions {
  events: readonly { position: string }[];
  /** The highest transaction id the reading snapshot saw in progress, or null when none was. */
  inProgressUpTo: string | null;
}

export function initialCursor(): RelayCursor {
  return { position: "0", gaps: [] };
}

/** Reads a stored cursor; anything unreadable starts over from the beginning (at least once). */
export function readCursor(stored: unknown): RelayCursor {
  if (typeof stored !== "object" || stored === null) return initialCursor();
  const c = stored as Partial<RelayCursor>;
  if (typeof c.position !== "string" || !/^\d+$/.test(c.position)) return initialCursor();
  const gaps = Array.isArray(c.gaps)
    ? c.gaps.filter((g) => typeof g?.position === "string" && typeof g?.until === "string" && /^\d+$/.test(g.position + g.until))
    : [];
  return { position: c.position, gaps };
}

/**
 * The cursor after publishing `batch`. `horizon` is the oldest running transaction id, taken
 * before the batch was read: a gap whose `until` it has reached was read again by this batch
 * after its transaction ended, so if the batch does not hold it, it never will.
 */
export function advanceCursor(cursor: RelayCursor, batch: RelayBatchPositions, horizon: string): RelayCursor {
  const read = new Set(batch.events.map((e) => e.position));
  const done = BigInt(horizon);
  const gaps = cursor.gaps.filter((g) => !read.has(g.position) && BigInt(g.until) > done);
  let last = BigInt(cursor.position);
  for (const event of batch.events) {
    const position = BigInt(event.position);
    if (position <= last) continue; // a gap being filled
    // Positions skipped here belong to transactions still running in the batch's snapshot, or
    // to none (rolled back). With nothing running, they are final.
    if (batch.inProgressUpTo !== null) {
      const until = (BigInt(batch.inProgressUpTo) + 1n).toString();
      const from = position - last > BigInt(MAX_RELAY_GAPS) ? position - BigInt(MAX_RELAY_GAPS) : last + 1n;
      for (let p = from; p < position; p++) gaps.push({ position: p.toString(), until });
    }
    last = position;
  }
  return { position: last.toString(), gaps: gaps.slice(-MAX_RELAY_GAPS) };
}
