import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_DB_KIND } from "../../../../test-support/database.ts";
import { acquireOne, type Harness, startHarness, uniqueWorkflow } from "../http-harness.ts";
import { browserMissingReason, launchChromium } from "./browser.ts";

// The console and /docs in a real Chromium against a real server (Postgres and PGlite): what an
// operator sees and does. `pnpm test:ui` (BATON_UI_SCREENSHOTS=1) also rewrites the README's screenshots
// of each page at 1280x800 in docs/screenshots, from the PGlite run; `pnpm test` leaves them alone.
// The page's globals as the functions given to page.evaluate use them (this project compiles without the DOM library).
type PageElement = {
  tagName: string;
  className: string;
  textContent: string | null;
  getBoundingClientRect(): { right: number };
  closest(selector: string): PageElement | null;
};
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement>;
  documentElement: { outerHTML: string };
  activeElement: PageElement | null;
};
declare const window: { innerWidth: number };

const SCREENSHOTS = fileURLToPath(new URL("../../../../docs/screenshots/", import.meta.url));
const missing = browserMissingReason();
if (missing) console.warn(`\n*** SKIPPING the console browser tests: ${missing} ***\n`);

describe.skipIf(missing !== undefined)("console in Chromium", { timeout: 180_000 }, () => {
  let h: Harness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const saga = uniqueWorkflow("saga");
  const single = uniqueWorkflow("single");
  const longStep = `s${"x".repeat(127)}`;

  const open = async (path: string) => {
    await page.goto(`${h.url}${path}`);
    return page;
  };
  const shoot = async (name: string) => {
    if (process.env.BATON_UI_SCREENSHOTS !== "1" || TEST_DB_KIND !== "pglite") return;
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}${name}.png` });
  };
  const start = async (workflow: string, runId: string, input: Record<string, unknown> = {}) =>
    (await h.call("POST", `/v1/workflows/${workflow}/runs`, { runId, input })).body.instanceId as string;
  const complete = (task: { executionId: string; fenceToken: number }, output: unknown, workerId = "w1") =>
    h.call("POST", `/v1/tasks/${task.executionId}/complete`, { workerId, fenceToken: task.fenceToken, output });
  const fail = (task: { executionId: string; fenceToken: number }, message: string) =>
    h.call("POST", `/v1/tasks/${task.executionId}/fail`, {
      workerId: "w1",
      fenceToken: task.fenceToken,
      error: { message },
      retryable: false,
    });
  const state = () => page.locator("#instance-state").innerText();
  /** Elements that stick out past the right edge of the window (a page that scrolls sideways): none, on a sound layout. */
  const overflowing = () =>
    page.evaluate(() =>
      [...document.querySelectorAll("body *")]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest(".scroll"))
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
        .slice(0, 10),
    );

  beforeAll(async () => {
    // Room for a 1 MiB step output in a report.
    h = await startHarness({ app: { bodyLimitBytes: 4 * 1024 * 1024 } });
    await h.call("POST", "/v1/workflows", {
      name: saga.name,
      steps: [
        { name: "reserve", queue: `${saga.queue}.reserve`, undo: true },
        { name: "charge", queue: `${saga.queue}.charge`, retry: { maxAttempts: 1 } },
      ],
    });
    await h.call("POST", "/v1/workflows", {
      name: single.name,
      type: "dag",
      steps: [
        { name: "work", queue: single.queue, retry: { maxAttempts: 1 } },
        { name: longStep, queue: `${single.queue}.long`, dependsOn: ["work"] },
      ],
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on("dialog", (dialog) => dialog.accept());
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it("follows a saga live as it compensates, without a reload", async () => {
    const id = await start(saga.name, "order-1", { order: 1 });
    await complete(await acquireOne(h, `${saga.queue}.reserve`, "w1"), { reservation: "r-1" });
    await open(`/ui/instances/${id}`);
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    expect(await state()).toBe("RUNNING");
    await expect.poll(() => page.locator(".step.s-completed .step-name").allInnerTexts()).toEqual(["reserve"]);

    await fail(await acquireOne(h, `${saga.queue}.charge`), "card declined");
    await expect.poll(state, { timeout: 20_000 }).toBe("COMPENSATING");
    await complete(await acquireOne(h, `${saga.queue}.reserve.undo`), { released: true });
    await expect.poll(state, { timeout: 20_000 }).toBe("COMPENSATED");
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    const attempts = page.locator(".attempt");
    await expect.poll(() => attempts.count()).toBe(3);
    const charge = await attempts.nth(1).innerText();
    expect(charge).toMatch(/^charge\s+DO attempt 1\/1\s+FAILED/);
    expect(charge).toContain("card declined");
    expect(await page.locator(".timeline").innerText()).toContain("WORKFLOW_COMPENSATED");
    await shoot("instance");
  });

  it("pauses and resumes from the page, and shows the API's error when an action is refused", async () => {
    const id = await start(saga.name, "order-2");
    await open(`/ui/instances/${id}`);
    await page.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.locator("#flash").innerText()).toContain("pause: the run is now PAUSED");
    await expect.poll(state, { timeout: 10_000 }).toBe("PAUSED");
    await page.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.locator("#flash [role=alert]").innerText()).toMatch(/^INVALID_STATE .*pause/i);
    await page.getByRole("button", { name: "Resume" }).click();
    await expect.poll(state, { timeout: 10_000 }).toBe("RUNNING");
  });

  it("retries a failed step from the page", async () => {
    const id = await start(single.name, "job-1");
    await fail(await acquireOne(h, single.queue), "disk full");
    await open(`/ui/instances/${id}`);
    expect(await state()).toBe("FAILED");
    await page.getByLabel("Retry step").selectOption("work");
    await page.getByRole("button", { name: "Retry" }).click();
    await expect.poll(() => page.locator("#flash").innerText()).toContain("work scheduled again (attempt 2)");
    await expect.poll(state, { timeout: 10_000 }).toBe("RUNNING");
    // The new attempt is handed out and completes, then the next step: the page follows.
    await complete(await acquireOne(h, single.queue), { done: true });
    await expect.poll(() => page.locator(".attempt").count(), { timeout: 10_000 }).toBe(3);
    await complete(await acquireOne(h, `${single.queue}.long`), { done: true });
    await expect.poll(state, { timeout: 10_000 }).toBe("COMPLETED");
  });

  it("keeps a 128-character step name and a 1 MiB output inside the page, at 1280 and at phone width", async () => {
    // A value is at most 512 KiB (LIMITS.maxValueBytes); a run's output, the map of its steps' outputs, can pass 1 MiB.
    const id = await start(single.name, `run-${"r".repeat(190)}`);
    expect((await complete(await acquireOne(h, single.queue), { blob: "y".repeat(510 * 1024) })).status).toBe(200);
    expect((await complete(await acquireOne(h, `${single.queue}.long`), { blob: "z".repeat(510 * 1024) })).status).toBe(200);
    await open(`/ui/instances/${id}`);
    expect(await state()).toBe("COMPLETED");
    expect(await page.locator(".step-name", { hasText: longStep }).count()).toBeGreaterThan(0);
    const output = page.locator("#live > details.value", { hasText: "Output" });
    expect(await output.getAttribute("open")).toBeNull();
    expect(await output.locator("summary").innerText()).toMatch(/^Output \(10\d{5} characters\)$/);
    await output.locator("summary").click();
    expect(await output.locator(".note").innerText()).toMatch(/^Showing 65536 of 10\d{5} characters; the whole value: \/v1\/instances\//);
    expect(await page.evaluate(() => document.documentElement.outerHTML.length)).toBeLessThan(600_000);
    expect(await overflowing()).toEqual([]);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    expect(await overflowing()).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("lists, filters and pages instances; starts a run from a workflow's page, checking its JSON first", async () => {
    await open("/ui/instances?runId=order-1");
    expect(await page.locator("tbody tr").count()).toBe(1);
    await page.getByLabel("State").selectOption("PAUSED");
    await page.getByRole("button", { name: "Filter" }).click();
    expect(await page.locator("tbody").innerText()).toContain("No instances.");

    await open("/ui/workflows");
    await shoot("workflows");
    await page.getByRole("link", { name: saga.name }).click();
    expect(await page.locator("table").first().innerText()).toContain("reserve");
    await page.getByLabel("Run id").fill("from-the-page");
    await page.getByLabel("Input (a JSON object)").fill("[1, 2]");
    await page.getByRole("button", { name: "Start run" }).click();
    expect(await page.locator("#input-error").innerText()).toContain("must be a JSON object");
    await page.getByLabel("Input (a JSON object)").fill('{"order": 3}');
    await page.getByRole("button", { name: "Start run" }).click();
    await page.waitForURL(/\/ui\/instances\/[0-9a-f-]{36}$/);
    expect(await page.locator("#flash").innerText()).toContain("Run started");
    expect(await page.locator(".facts").innerText()).toContain("from-the-page");

    await open("/ui/instances");
    await shoot("instances");
    expect(await page.locator("tbody tr").first().innerText()).toContain("from-the-page");
  });

  it("shows the overview and the workers, and can be used by keyboard", async () => {
    await start(saga.name, "order-3");
    await start(saga.name, "order-4");
    await acquireOne(h, `${saga.queue}.reserve`, "worker-a");
    await open("/ui");
    expect(await page.locator(".counts").innerText()).toMatch(/COMPENSATED\s+1/);
    expect(await page.locator("table").first().innerText()).toContain(`${saga.queue}.reserve`);
    await shoot("overview");
    await open("/ui/workers");
    const row = await page.locator("tr", { hasText: "worker-a" }).innerText();
    expect(row).toMatch(/POLLING/);
    expect(row).toContain(`1 on ${saga.queue}.reserve`);
    await shoot("workers");
    // The minutes' counts start with the first look at the overview: a completion after it is counted.
    await complete(await acquireOne(h, `${saga.queue}.reserve`), { reservation: "r-2" });
    await open("/ui");
    const lately = await page
      .locator("section", { hasText: "last minutes" })
      .locator("tr", { hasText: `${saga.queue}.reserve` })
      .first() // before its .undo queue
      .innerText();
    expect(lately.split(/\s+/).slice(1)).toEqual(["1", "0", "1", "0", "1", "0"]);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
  });

  it("/docs lists the operations with the network to anything but Baton cut", async () => {
    const foreign: string[] = [];
    await page.route("**/*", (route) => {
      if (route.request().url().startsWith(h.url)) return route.continue();
      foreign.push(route.request().url());
      return route.abort();
    });
    await open("/docs");
    await expect.poll(() => page.locator(".opblock-summary-path").count(), { timeout: 30_000 }).toBeGreaterThan(20);
    expect(await page.locator(".opblock-summary-path").allInnerTexts()).toContain("/v1/workflows/{name}/runs");
    expect(foreign).toEqual([]);
    await shoot("docs");
    await page.unroute("**/*");
  });

  // Last: the first key turns authentication on for this server.
  it("asks for an API key once auth is on, and keeps it in an HttpOnly SameSite=Strict cookie", async () => {
    const { token } = (await h.call("POST", "/v1/keys", { name: "ops", role: "admin" })).body;
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await fresh.newPage();
    await p.goto(`${h.url}/ui/workflows`);
    expect(new URL(p.url()).pathname).toBe("/ui/login");
    await p.getByLabel("API key").fill("baton_0123456789abcdef_wrong");
    await p.getByRole("button", { name: "Sign in" }).click();
    expect(await p.locator("[role=alert]").innerText()).toContain("UNAUTHORIZED");
    await p.getByLabel("API key").fill(token);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.waitForURL(`${h.url}/ui/workflows`);
    expect(await p.locator("table").innerText()).toContain(saga.name);
    const [cookie] = await fresh.cookies();
    expect(cookie).toMatchObject({ name: "baton_session", httpOnly: true, sameSite: "Strict" });
    // The cookie opens the browser's pages only: the API itself still wants the bearer key.
    const api = await p.evaluate(async () => (await fetch("/v1/workflows")).status);
    expect(api).toBe(401);
    await fresh.close();
  });
});
