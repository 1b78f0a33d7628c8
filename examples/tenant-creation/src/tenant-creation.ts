import {
  type ConnectOptions,
  createClient,
  createWorker,
  type HandlerContext,
  type InstanceView,
  type Logger,
  NonRetryableError,
  TERMINAL_STATES,
  timelineLine,
} from "@baton/worker-sdk";

/**
 * Tenant creation as a saga: create the tenant's realm in the identity provider, then register its
 * OAuth client there. Both steps can be undone. createClient retries with backoff; when it runs out
 * of attempts, the realm it needed is deleted again (createRealm's UNDO) and the run ends
 * COMPENSATED instead of leaving a half-made tenant behind.
 */
export const tenantCreationDefinition = {
  // A name of the example's own: on a shared database, registering it never makes a new version
  // of a real service's `tenantCreation`.
  name: "exampleTenantCreation",
  type: "sequential",
  defaults: { leaseMs: 10_000, retry: { maxAttempts: 3, backoffMs: 200, backoffMultiplier: 2 } },
  steps: [
    { name: "createRealm", undo: true },
    { name: "createClient", undo: true },
  ],
} as const;

interface TenantInput {
  tenant: string;
  createRealm?: { realmId: string };
}

/**
 * A stand-in for the identity provider. It keeps, per realm, the highest fence token it has seen
 * and refuses writes carrying a lower one: a worker that stalled past its lease cannot overwrite
 * what the step's next attempt did.
 */
export class FakeIdentityProvider {
  readonly realms = new Map<string, { fence: number }>();
  readonly clients = new Map<string, string>();
  private clientCalls = 0;

  /** `failClientCalls`: how many createClient calls fail before one succeeds (Infinity: all). */
  constructor(private readonly failClientCalls = Number.POSITIVE_INFINITY) {}

  createRealm(tenant: string, fence: number): string {
    const realmId = `realm-${tenant}`;
    const seen = this.realms.get(realmId);
    if (seen && seen.fence > fence) throw new NonRetryableError(`stale write to ${realmId}: fence ${fence} < ${seen.fence}`);
    this.realms.set(realmId, { fence });
    return realmId;
  }

  deleteRealm(realmId: string): boolean {
    return this.realms.delete(realmId);
  }

  createClient(realmId: string): string {
    if (!this.realms.has(realmId)) throw new NonRetryableError(`realm ${realmId} does not exist`);
    this.clientCalls++;
    if (this.clientCalls <= this.failClientCalls) throw new Error(`identity provider: 503 on client registration in ${realmId}`);
    const clientId = `${realmId}-app`;
    this.clients.set(clientId, realmId);
    return clientId;
  }

  deleteClient(clientId: string): void {
    this.clients.delete(clientId);
  }
}

/** The worker's handlers, one DO and one UNDO per step, each a call to the identity provider. */
export function tenantHandlers(idp: FakeIdentityProvider, say: (line: string) => void) {
  const note = (ctx: HandlerContext<TenantInput>, what: string) =>
    say(`    worker: ${ctx.taskId} ${ctx.kind} attempt ${ctx.attempt} (fence ${ctx.fenceToken}): ${what}`);
  return {
    createRealm: {
      do: (ctx: HandlerContext<TenantInput>) => {
        const realmId = idp.createRealm(ctx.input.tenant, ctx.fenceToken);
        note(ctx, `created ${realmId}`);
        return { realmId };
      },
      undo: (ctx: HandlerContext<TenantInput>) => {
        const realmId = `realm-${ctx.input.tenant}`;
        const deleted = idp.deleteRealm(realmId);
        note(ctx, deleted ? `deleted ${realmId}` : `${realmId} was already gone`);
        return { deleted: realmId };
      },
    },
    createClient: {
      do: (ctx: HandlerContext<TenantInput>) => {
        try {
          const clientId = idp.createClient(ctx.input.createRealm?.realmId ?? "");
          note(ctx, `registered ${clientId}`);
          return { clientId };
        } catch (error) {
          note(ctx, `failed: ${(error as Error).message}`);
          throw error;
        }
      },
      undo: (ctx: HandlerContext<TenantInput>) => {
        idp.deleteClient(`realm-${ctx.input.tenant}-app`);
        note(ctx, "deleted the client");
      },
    },
  };
}

export interface RunOptions {
  /** Where Baton is: `{ url }` for a running server, `{ engine }` in-process. */
  connection: ConnectOptions;
  tenant?: string;
  runId?: string;
  /** createClient calls that fail before one succeeds (default: all of them, so the saga compensates). */
  failClientCalls?: number;
  timeoutMs?: number;
  /** Where the timeline goes (default: console.log). */
  say?: (line: string) => void;
  logger?: Logger;
}

/**
 * Registers the workflow, starts workers for its steps, starts one run, prints the timeline as it
 * happens and returns the instance once it reaches a terminal state.
 */
export async function runTenantCreation(options: RunOptions): Promise<InstanceView> {
  const say = options.say ?? ((line: string) => console.log(line));
  const tenant = options.tenant ?? "acme";
  const client = createClient(options.connection);
  const idp = new FakeIdentityProvider(options.failClientCalls);

  const registered = await client.register(tenantCreationDefinition);
  say(`registered ${registered.name} v${registered.version}${registered.created ? "" : " (unchanged)"}`);

  const worker = createWorker({
    ...options.connection,
    workflow: tenantCreationDefinition.name,
    handlers: tenantHandlers(idp, say),
    concurrency: 4,
    pollWaitMs: 5000,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  try {
    const run = await client.start(tenantCreationDefinition.name, {
      runId: options.runId ?? `${tenant}-${Date.now()}`,
      input: { tenant },
    });
    say(`${run.created ? "started" : "found existing"} run ${run.runId}: instance ${run.instanceId}`);
    let printed = 0;
    let t0: number | undefined;
    const done = await client.waitFor(run.instanceId, TERMINAL_STATES, {
      timeoutMs: options.timeoutMs ?? 60_000,
      intervalMs: 100,
      onPoll: (instance) => {
        for (const event of instance.events.slice(printed)) {
          t0 ??= Date.parse(event.createdAt);
          say(timelineLine(event, t0));
        }
        printed = instance.events.length;
      },
    });
    say(`instance ${done.instanceId} is ${done.state}; realms left in the identity provider: ${idp.realms.size}`);
    return done;
  } finally {
    await worker.stop({ deadlineMs: 5000 });
  }
}
