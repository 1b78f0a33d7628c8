import {
  type Engine,
  eventListForRelay,
  eventRelayHorizon,
  leaseAcquireOrRenew,
  leaseRelease,
  leaseWriteCursorIfHeld,
  type NamedLease,
} from "@baton/engine";
import type { Producer } from "kafkajs";
import { type EventMessage, eventCutToFit, eventMessage } from "./event-message.ts";
import type { BridgeLogger } from "./kafka-client.ts";
import { advanceCursor, type RelayCursor, readCursor } from "./relay-cursor.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, sendSized } from "./sized-send.ts";

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
 * Publishes the `events` table to the lifecycle-events topic of each instance's namespace, keyed
 * by instance id, each instance's events in sequence order (events of namespaces the bridge does
 * not serve are passed over). Every replica runs one; only the holder of the
 * `events-relay` lease publishes. A batch goes in sends under the broker's message size; an event
 * too large to go alone is published without its largest payload fields, marked (`payloadOmitted`)
 * with a link to read it whole over the API, so the relay never stalls on one. The cursor is written after each batch is acknowledged and only
 * with the lease's fence token, so a relay that was deposed (paused past its lease) cannot move
 * it: the worst it does is publish a batch twice (consumers deduplicate by instance id and
 * sequence number).
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
    private readonly engine: Engine,
    private readonly producer: Producer,
    /** The events topic of a namespace; undefined: its events are not relayed (not served). */
    private readonly topicOf: (namespace: string) => string | undefined,
    private readonly logger: BridgeLogger,
    private readonly options: EventsRelayOptions & {
      /** Bytes one send may take (default DEFAULT_MAX_MESSAGE_BYTES); a batch goes in as many sends as that takes. */
      maxMessageBytes?: number;
    },
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
      await leaseRelease(this.engine.database.db, {
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
        this.logger.error({ err: error }, "kafka bridge: events relay pass failed; trying again");
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
    const lease = await leaseAcquireOrRenew(this.engine.database.db, {
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
    const db = this.engine.database.db;
    if (!this.held || Date.now() - this.renewedAt > this.options.leaseMs / 3) {
      const asked = Date.now();
      const lease = await leaseAcquireOrRenew(db, { leaseKey: EVENTS_RELAY_LEASE, holderId: this.holderId, leaseMs: this.options.leaseMs });
      if (!lease) {
        if (this.held) this.logger.info({ holderId: this.holderId }, "kafka bridge: events relay lease lost to another replica");
        this.held = null;
        return;
      }
      if (this.held?.fenceToken !== lease.fenceToken) {
        this.logger.info({ holderId: this.holderId, fenceToken: lease.fenceToken }, "kafka bridge: this replica now relays events");
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
      const messages: EventMessage[] = [];
      for (const e of batch.events) {
        const topic = this.topicOf(e.namespace);
        if (topic !== undefined) messages.push(eventMessage(topic, e));
      }
      // The cursor below moves only once every send of the batch was acknowledged.
      await sendSized(this.producer, messages, {
        acks: -1,
        beforeSend: () => this.keepLease(lease),
        maxBytes: this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        oversize: (message, fitInto) => {
          const cut = eventCutToFit(message, fitInto);
          this.logger.warn(
            {
              instanceId: message.event.instanceId,
              sequenceNumber: message.event.sequenceNumber,
              fitInto,
              omitted: cut.headers.payloadOmitted,
            },
            "kafka bridge: event over the Kafka message limit; published without its largest payload fields",
          );
          return cut;
        },
      });
      if (JSON.stringify(next) !== JSON.stringify(cursor)) {
        const written = await leaseWriteCursorIfHeld(db, {
          leaseKey: EVENTS_RELAY_LEASE,
          holderId: this.holderId,
          fenceToken: lease.fenceToken,
          cursor: next,
        });
        if (!written) {
          this.logger.warn(
            { holderId: this.holderId, fenceToken: lease.fenceToken },
            "kafka bridge: events relay was deposed; standing by",
          );
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
