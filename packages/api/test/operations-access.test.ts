import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type AppOptions, createApp, loadConfig } from "@baton/api";
import type { Role } from "@baton/engine";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { addressIn, parseNetworks } from "../src/http/networks.ts";

// /metrics, /docs and /openapi.json follow the rules of every other route (issue 10): a key is
// needed once keys exist, /metrics needs one that may read metrics (operator, admin), and
// METRICS_PUBLIC opens /metrics alone: to anyone (`true`) or to a scraper's network (a list).

let engine: TestEngine;
const tokens = {} as Record<Role, string>;
beforeAll(async () => {
  engine = await createTestEngine();
  for (const role of ["admin", "operator", "starter", "worker"] as const) {
    tokens[role] = (await engine.access.createKey({ name: role, role, namespaces: ["default"] })).token;
  }
});
afterAll(() => engine?.destroy());

/** The API with these options, served on 127.0.0.1 (so requests come from 127.0.0.1). */
async function served(options: Omit<AppOptions, "shutdown">) {
  const app = createApp(engine, { auth: "on", ...options });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s as Server));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    app,
    status: async (path: string, who?: Role | "garbage") => {
      const token = who === "garbage" ? `baton_${"0".repeat(16)}_${"A".repeat(43)}` : who ? tokens[who] : undefined;
      const res = await fetch(`${url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      await res.arrayBuffer();
      return res.status;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const PATHS = ["/metrics", "/docs", "/openapi.json"] as const;

describe("/metrics, /docs and /openapi.json with keys", () => {
  it("need a key; /metrics one that may read metrics (operator, admin), the documentation any role's", async () => {
    const api = await served({});
    try {
      for (const path of PATHS) {
        expect(await api.status(path), path).toBe(401);
        expect(await api.status(path, "garbage"), path).toBe(401);
      }
      const metrics = await Promise.all((["admin", "operator", "starter", "worker"] as const).map((r) => api.status("/metrics", r)));
      expect(metrics).toEqual([200, 200, 403, 403]);
      for (const path of ["/docs", "/openapi.json"]) {
        for (const role of ["admin", "operator", "starter", "worker"] as const)
          expect(await api.status(path, role), `${path} ${role}`).toBe(200);
      }
    } finally {
      await api.close();
    }
  });

  it("METRICS_PUBLIC=true opens /metrics to anyone, and nothing else", async () => {
    const api = await served({ metricsPublic: true });
    try {
      expect(await api.status("/metrics")).toBe(200);
      for (const path of ["/docs", "/openapi.json", "/v1/instances", "/metrics/"]) expect(await api.status(path), path).toBe(401);
    } finally {
      await api.close();
    }
  });

  it("METRICS_PUBLIC=<networks> opens /metrics to requests from those networks only", async () => {
    const inside = await served({ metricsNetworks: ["10.0.0.0/8", "127.0.0.0/8"] });
    const outside = await served({ metricsNetworks: ["10.0.0.0/8", "::1/128"] });
    try {
      expect(await inside.status("/metrics")).toBe(200);
      for (const path of ["/docs", "/openapi.json", "/v1/workers"]) expect(await inside.status(path), path).toBe(401);
      expect(await outside.status("/metrics")).toBe(401);
      expect(await outside.status("/metrics", "starter")).toBe(403);
      expect(await outside.status("/metrics", "operator")).toBe(200);
      // No peer address at all (in-process requests) is not inside any network.
      expect((await inside.app.request("/metrics")).status).toBe(401);
    } finally {
      await inside.close();
      await outside.close();
    }
  });
});

describe("METRICS_PUBLIC", () => {
  it("reads true/false or a list of addresses and CIDR blocks, and names itself when it is anything else", () => {
    expect(loadConfig({})).toMatchObject({ metricsPublic: false, metricsNetworks: undefined });
    expect(loadConfig({ METRICS_PUBLIC: "TRUE" })).toMatchObject({ metricsPublic: true, metricsNetworks: undefined });
    expect(loadConfig({ METRICS_PUBLIC: "0" })).toMatchObject({ metricsPublic: false, metricsNetworks: undefined });
    expect(loadConfig({ METRICS_PUBLIC: "10.0.0.0/8, 192.168.1.7,fd00::/8" })).toMatchObject({
      metricsPublic: false,
      metricsNetworks: ["10.0.0.0/8", "192.168.1.7", "fd00::/8"],
    });
    for (const bad of ["yes", "10.0.0.0/33", "10.0.0.0/8/1", "fd00::/129", "10.0.0/8", "10.0.0.0/-1"]) {
      expect(() => loadConfig({ METRICS_PUBLIC: bad }), bad).toThrow(/METRICS_PUBLIC/);
    }
  });

  it("matches IPv4 peers also when the socket reports them IPv6-mapped", () => {
    const networks = parseNetworks(["10.0.0.0/8", "fd00::/8"]);
    expect(["10.1.2.3", "::ffff:10.1.2.3", "fd00::1"].map((a) => addressIn(networks, a))).toEqual([true, true, true]);
    expect(["11.0.0.1", "::ffff:11.0.0.1", "fe80::1", "", "not an address"].map((a) => addressIn(networks, a))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
