import type { Db } from "../db/database.ts";
import { advanceCursor, type RelayCursor, readCursor } from "../domain/relay-cursor.ts";
import { eventListForRelay, eventRelayHorizon, type RelayEventRow } from "../store/events-relay.ts";
import { leaseAcquireOrRenew, leaseRelease, leaseWriteCursorIfHeld, type NamedLease } from "../store/leases.ts";
import type { PassLogger } from "./periodic-pass.ts";

/** The named lease (execution_leases) whose holder is the one replica that relays events. */
export const EVENTS_RELAY_LEASE = "events-relay";

export interface EventsRelayOptions {
  /** How long a hand-out of the relay lease lasts; the holder renews it every pass. */
  leaseMs: number;
  /** Pause between passes when there is nothing (more) to publish. */
  intervalMs: number;
  /** History rows (one commit's events of one instance each) per read. */
  batchSize: number;
}

/**
 * Publishes one batch of events in order and resolves once every one of them was acknowledged.
 * It calls `keepLease` before each send: that renews the relay lease when due, and throws when the
 * lease was lost, so a deposed relay stops sending (its cursor is not moved then).
 */
export type EventsPublisher = (events: RelayEventRow[], keepLease: () => Promise<void>) => Promise<void>;

/** What the relay reports: pino's call shape, so a pino logger fits as is. */
export interface RelayLogger extends PassLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Relays the `events` table, in position order, to a publisher (the Kafka bridge's lifecycle
 * topic; DESIGN §8). Every replica runs one; only the holder of the `events-relay` lease reads and
 * hands out batches. The cursor is written after the publisher acknowledged a batch, and only with
 * the lease's fence token, so a relay that was deposed (paused past its lease) cannot move it: the
 * worst it does is publish a batch twice (consumers deduplicate by instance id and sequence number).
 * Made by `engine.createEventsRelay`.
 */
export class EventsRelay {
  readonly holderId = `relay-${crypto.randomUUID()}`;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private held: NamedLease | null = null;
  /** When (local clock) the lease was last asked for and granted. */
  private renewedAt = 0;
  /** The cursor as last written; only this replica writes it while it holds the lease. */
  private cursor: RelayCursor = readCursor(null);

  constructor(
    private readonly db: Db,
    private readonly publish: EventsPublisher,
    private readonly logger: RelayLogger,
    private readonly options: EventsRelayOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Whether this replica held the lease at its last pass. */
  get leader(): boolean {
    return this.held !== null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
    const held = this.held;
    this.held = null;
    // Hand over at once rather than after the lease runs out.
    if (held)
      await leaseRelease(this.db, {
        leaseKey: EVENTS_RELAY_LEASE,
        holderId: this.holderId,
        fenceToken: held.fenceToken,
      }).catch(() => {});
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.pass();
      } catch (error) {
        this.logger.error({ err: error }, "events relay: pass failed; trying again");
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.intervalMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /**
   * Renews the lease while a batch is being published, once a third of it has passed, so a batch
   * that takes many sends is not deposed halfway (and then published again, forever). Throws when
   * the lease was lost meanwhile: the cursor is not moved and the next pass starts over.
   */
  private async keepLease(held: NamedLease): Promise<void> {
    if (Date.now() - this.renewedAt <= this.options.leaseMs / 3) return;
    const asked = Date.now();
    const lease = await leaseAcquireOrRenew(this.db, {
      leaseKey: EVENTS_RELAY_LEASE,
      holderId: this.holderId,
      leaseMs: this.options.leaseMs,
    });
    if (lease?.fenceToken !== held.fenceToken) {
      this.held = null;
      throw new Error("the events relay lease was lost while publishing a batch; its cursor was not moved");
    }
    this.renewedAt = asked;
  }

  /**
   * Takes or renews the lease (renewing is a write, so only every third of the lease), then
   * publishes until caught up or the lease is about to run out.
   */
  private async pass(): Promise<void> {
    const db = this.db;
    if (!this.held || Date.now() - this.renewedAt > this.options.leaseMs / 3) {
      const asked = Date.now();
      const lease = await leaseAcquireOrRenew(db, { leaseKey: EVENTS_RELAY_LEASE, holderId: this.holderId, leaseMs: this.options.leaseMs });
      if (!lease) {
        if (this.held) this.logger.info({ holderId: this.holderId }, "events relay: lease lost to another replica");
        this.held = null;
        return;
      }
      if (this.held?.fenceToken !== lease.fenceToken) {
        this.logger.info({ holderId: this.holderId, fenceToken: lease.fenceToken }, "events relay: this replica now relays events");
      }
      this.held = lease;
      this.renewedAt = asked;
      this.cursor = readCursor(lease.cursor);
    }
    const lease = this.held;
    // Stop well before the lease ends, so the cursor writes land while it is surely still ours.
    const stopBy = this.renewedAt + this.options.leaseMs / 2;
    let cursor = this.cursor;
    while (!this.stopped && Date.now() < stopBy) {
      const horizon = await eventRelayHorizon(db);
      const batch = await eventListForRelay(db, {
        after: cursor.position,
        gaps: cursor.gaps.map((g) => g.position),
        limit: this.options.batchSize,
      });
      const next = advanceCursor(cursor, batch, horizon);
      // The cursor below moves only once the publisher acknowledged the whole batch.
      await this.publish(batch.events, () => this.keepLease(lease));
      if (JSON.stringify(next) !== JSON.stringify(cursor)) {
        const written = await leaseWriteCursorIfHeld(db, {
          leaseKey: EVENTS_RELAY_LEASE,
          holderId: this.holderId,
          fenceToken: lease.fenceToken,
          cursor: next,
        });
        if (!written) {
          this.logger.warn({ holderId: this.holderId, fenceToken: lease.fenceToken }, "events relay: deposed; standing by");
          this.held = null;
          return;
        }
      }
      cursor = next;
      this.cursor = next;
      if (batch.events.length < this.options.batchSize) return;
    }
  }
}
