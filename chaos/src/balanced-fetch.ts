/**
 * A `fetch` that spreads requests over several Baton API processes, as a load balancer would: each
 * request goes to the next server, and one refused at connect (nothing was sent: the process is
 * down) goes to the one after.
 */
export function balancedFetch(servers: string[]): typeof fetch {
  let next = Math.floor(Math.random() * servers.length);
  return async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    let lastError: unknown;
    for (let tries = 0; tries < servers.length; tries++) {
      const server = new URL(servers[next++ % servers.length] as string);
      url.host = server.host;
      try {
        return await fetch(url, init);
      } catch (error) {
        if (!refusedAtConnect(error)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  };
}

function refusedAtConnect(error: unknown): boolean {
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined;
  return cause?.code === "ECONNREFUSED";
}
