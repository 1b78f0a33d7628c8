import { HostPolicy } from "@baton/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { specialAddressKind } from "../../src/http-steps/host-policy.ts";
import { type Body, type HttpStepsFixture, json, type LoopbackService, startHttpSteps, startService, uniqueName } from "./fixture.ts";

// Which hosts HTTP steps may call is the operator's BATON_HTTP_STEP_HOSTS. A refused call fails
// its step at once (no retry) without a request; names are checked as written, and the addresses
// they resolve to as the connection is made.

const services: LoopbackService[] = [];
afterAll(() => Promise.all(services.map((s) => s.close())));
const service = async () => {
  const s = await startService((_req, res) => json(res, 200, { reached: true }));
  services.push(s);
  return s;
};

/** Runs a one-step workflow calling `url` and answers its only attempt. */
async function callOnce(f: HttpStepsFixture, url: string): Promise<{ view: Body; attempt: Body }> {
  const id = await f.run({
    name: uniqueName("allow"),
    steps: [{ name: "call", transport: "http", url, retry: { maxAttempts: 3, backoffMs: 0 } }],
  });
  const view = await f.ended(id);
  return { view, attempt: view.tasks[0] };
}

describe("a listed address, a listed name", () => {
  let f: HttpStepsFixture;
  let listed: LoopbackService;
  let other: LoopbackService;
  beforeAll(async () => {
    listed = await service();
    other = await service();
    f = await startHttpSteps({ hosts: `127.0.0.1:${listed.port}, localhost` });
  });
  afterAll(() => f.close());

  it("calls a listed host:port", async () => {
    const { view } = await callOnce(f, `${listed.url}/ok`);
    expect(view.state).toBe("COMPLETED");
    expect(listed.requests).toHaveLength(1);
  });

  it("refuses a host that is not listed (another port, another name), without a request and without retries", async () => {
    for (const url of [`${other.url}/x`, "http://api.example.invalid/x"]) {
      const { view, attempt } = await callOnce(f, url);
      expect(view.state).toBe("FAILED");
      expect(view.tasks).toHaveLength(1);
      expect(attempt.error).toMatchObject({ name: "NonRetryableError", details: { reason: "host-refused" } });
      expect(attempt.error.message).toContain("is not in BATON_HTTP_STEP_HOSTS");
    }
    expect(other.requests).toHaveLength(0);
  });

  it("refuses a listed name that resolves to a loopback address that is not listed itself", async () => {
    const { view, attempt } = await callOnce(f, `http://localhost:${other.port}/x`);
    expect(view.state).toBe("FAILED");
    expect(attempt.error.details.reason).toBe("host-refused");
    expect(attempt.error.message).toMatch(
      /localhost resolves to (127\.0\.0\.1|::1), a loopback address, which BATON_HTTP_STEP_HOSTS must list itself/,
    );
    expect(other.requests).toHaveLength(0);
  });
});

describe("any host (*)", () => {
  let f: HttpStepsFixture;
  beforeAll(async () => {
    f = await startHttpSteps({ hosts: "*" });
  });
  afterAll(() => f.close());

  it("still refuses cloud metadata, link-local and loopback addresses, however written", async () => {
    const svc = await service();
    const cases: [string, string][] = [
      ["http://169.254.169.254/latest/meta-data/iam/security-credentials/", "169.254.169.254 is a cloud metadata address"],
      ["http://[::ffff:169.254.169.254]/latest/meta-data/", "::ffff:a9fe:a9fe is a cloud metadata address"],
      ["http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254 is a cloud metadata address"],
      ["http://169.254.10.1/", "is a link-local address"],
      [`${svc.url}/x`, "127.0.0.1 is a loopback address"],
      [`http://localhost:${svc.port}/x`, "a loopback address, which BATON_HTTP_STEP_HOSTS must list itself"],
    ];
    for (const [url, reason] of cases) {
      const { view, attempt } = await callOnce(f, url);
      expect(view.state, url).toBe("FAILED");
      expect(attempt.error.details.reason, url).toBe("host-refused");
      expect(attempt.error.message, url).toContain(reason);
    }
    expect(svc.requests).toHaveLength(0);
  });
});

describe("HostPolicy", () => {
  it("refuses every host when nothing is listed, and says which variable to set", () => {
    expect(HostPolicy.parse("").urlRefusal(new URL("https://api.example.com/"))).toBe(
      "BATON_HTTP_STEP_HOSTS is not set: HTTP steps may call no host until an operator lists some",
    );
    expect(HostPolicy.parse("*.example.com").urlRefusal(new URL("https://api.example.com/"))).toBeNull();
    expect(HostPolicy.parse("*.example.com").urlRefusal(new URL("https://example.com/"))).toContain("is not in BATON_HTTP_STEP_HOSTS");
    expect(HostPolicy.parse("api.example.com:8443").urlRefusal(new URL("https://api.example.com/"))).toContain("is not in");
  });

  it("reads names, *.domains, *, addresses and ports, and names an entry it cannot read", () => {
    expect(HostPolicy.parse(" payments.internal, *.svc.cluster.local ,10.0.0.5:8443,[::1]:80, * ").entries).toEqual([
      "payments.internal",
      "*.svc.cluster.local",
      "10.0.0.5:8443",
      "[::1]:80",
      "*",
    ]);
    expect(() => HostPolicy.parse("ok.example, http://bad.example")).toThrow("'http://bad.example' is not a host: write the host alone");
    expect(() => HostPolicy.parse("api.example:99999")).toThrow("the port must be 1 to 65535");
    expect(() => HostPolicy.parse("::1:99999")).toThrow("write an IPv6 address in brackets");
  });

  it("knows the addresses that must be listed themselves", () => {
    expect(specialAddressKind("169.254.169.254")).toBe("cloud metadata");
    expect(specialAddressKind("100.100.100.200")).toBe("cloud metadata");
    expect(specialAddressKind("127.10.0.1")).toBe("loopback");
    expect(specialAddressKind("0.0.0.0")).toBe("unspecified");
    expect(specialAddressKind("fe80::1")).toBe("link-local");
    expect(specialAddressKind("64:ff9b::a9fe:a9fe")).toBe("cloud metadata");
    expect(specialAddressKind("10.1.2.3")).toBeNull();
    expect(specialAddressKind("2001:db8::1")).toBeNull();
  });
});
