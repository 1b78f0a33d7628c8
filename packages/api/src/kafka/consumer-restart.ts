import type { Consumer } from "kafkajs";
import type { BridgeLogger } from "./kafka-client.ts";

/**
 * Keeps a consumer consuming after any crash. kafkajs restarts a crashed consumer only when the
 * error is one it calls retriable; after another (found by the chaos suite: "The coordinator is not
 * aware of this member" once the broker restarted, or a session ran out while a message was being
 * applied) it stays stopped for good, and a bridge would silently apply no more replies while its
 * process looks healthy. This starts it again with `start` (connect, subscribe, run), backing off
 * from 1 s to 30 s while that fails, until `stopped()`.
 */
export function restartAfterCrash(consumer: Consumer, start: () => Promise<void>, logger: BridgeLogger, stopped: () => boolean): void {
  let restarting = false;
  consumer.on(consumer.events.CRASH, (event) => {
    if (event.payload.restart || restarting || stopped()) return;
    restarting = true;
    logger.error({ err: event.payload.error }, "kafka bridge: the consumer crashed and kafkajs will not restart it; restarting it");
    void (async () => {
      for (let failures = 0; ; failures++) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** failures)));
        if (stopped()) break;
        try {
          await start();
          logger.info({ failures }, "kafka bridge: consumer restarted");
          break;
        } catch (error) {
          logger.error({ err: error, failures: failures + 1 }, "kafka bridge: the consumer could not be restarted; trying again");
          await consumer.disconnect().catch(() => {});
        }
      }
      restarting = false;
    })();
  });
}
