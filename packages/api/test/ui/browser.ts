import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/**
 * The Chromium the console tests drive: Debian's `chromium` package (`.ci/run` installs it), or
 * CHROMIUM_PATH. Playwright's own browser downloads are never used.
 */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  return candidates.find((path): path is string => path !== undefined && path !== "" && existsSync(path));
}

/** Why the browser suite cannot run here, or undefined when it can. */
export function browserMissingReason(): string | undefined {
  return chromiumPath()
    ? undefined
    : "no Chromium at CHROMIUM_PATH, /usr/bin/chromium or /usr/bin/chromium-browser (install Debian's package: apt-get install -y chromium)";
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath() as string,
    // Root in CI containers cannot use Chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}
