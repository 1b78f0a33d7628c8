/** What stands in for a secret wherever one would have been shown. */
export const REDACTED = "***";

// scheme://user:password@host → scheme://user:***@host (a user name alone stays). Greedy up to the
// token's last @, so an unescaped @ or / inside the password is hidden too.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/@"'`:]*:)[^\s"'`]*@/gi;
// libpq key=value strings and kafkajs-style fields: password=hunter2, "password":"hunter2"
const PASSWORD_FIELD = /\b(password|passwd|pwd)(\\?"?\s*[=:]\s*\\?"?)([^\s"'\\&,;}]+)/gi;

/**
 * Hides the credentials a text may carry: the password in a connection URL's user info and
 * `password=` fields. Used on every log line and on errors that echo a
 * connection string, so a DATABASE_URL or a broker password never reaches a log.
 * @example redactSecrets("postgres://baton:hunter2@db/baton") // "postgres://baton:***@db/baton"
 */
export function redactSecrets(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(PASSWORD_FIELD, (_, key: string, separator: string) => `${key}${separator}${REDACTED}`);
}

/**
 * pino options every Baton logger uses: known secret fields censored by path, and every line
 * passed through `redactSecrets` before it is written (an error's message or stack may quote a
 * connection string). Typed by its shape, so the contract needs no pino.
 * @example pino({ level: "info", ...SECRET_SAFE_LOGGING })
 */
export const SECRET_SAFE_LOGGING: {
  redact: { paths: string[]; censor: string };
  hooks: { streamWrite: (line: string) => string };
} = {
  redact: {
    paths: ["databaseUrl", "*.databaseUrl", "password", "*.password", "sasl.password", "*.sasl.password", "adminKey", "*.adminKey"],
    censor: REDACTED,
  },
  hooks: { streamWrite: redactSecrets },
};
