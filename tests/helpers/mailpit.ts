/**
 * Runs a real, throwaway Mailpit (an SMTP server that keeps every message and shows them over an HTTP API) on
 * free loopback ports for tests, and reads back what it received.
 */

import { accepts, type Process, retryOnPortInUse, spawnUntilReady } from "./port_process.ts";
import { freePort } from "./redis.ts";

/** An address as Mailpit parsed it from a header. */
export interface MailpitAddress {
  name: string;
  address: string;
}

/** A received message as Mailpit lists it (no body). */
export interface MailpitMessage {
  id: string;
  subject: string;
  from: MailpitAddress;
  to: MailpitAddress[];
  /** The SMTP AUTH user the sender logged in as, "" without AUTH. */
  username: string;
  /** The start of the text body. */
  snippet: string;
}

/** A received message with its bodies. */
export interface ReceivedMail {
  id: string;
  subject: string;
  /** The From address, e.g. `chat@example.com`. */
  from: string;
  /** The From display name, "" when there is none. */
  fromName: string;
  /** The To addresses. */
  to: string[];
  /** The text part, with LF line ends (SMTP carries CRLF); a text-only message's ends with one. */
  text: string;
  /** The HTML part with LF line ends, "" when the message has none. */
  html: string;
  /** The SMTP AUTH user the sender logged in as, "" without AUTH. */
  username: string;
}

export interface MailpitServer {
  /** `smtp://127.0.0.1:<port>` (plain, no TLS). Any user and password may log in, or none. */
  smtpUrl: string;
  /** `http://127.0.0.1:<port>` (its API is under /api/v1). */
  apiUrl: string;
  /** The messages received so far, oldest first; only those addressed to `to` when given. */
  messages(to?: string): Promise<MailpitMessage[]>;
  /**
   * The oldest message to `to` (address, case-insensitive) that no earlier call returned, waiting for it up to
   * `timeoutMs` (5 s by default) and throwing, with what did arrive, when none comes.
   */
  waitForMessage(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  /** Stops Mailpit, waits for the exit and removes its database: call it last (in `finally`). */
  close(): Promise<void>;
}

export interface MailpitOptions {
  /**
   * SMTP users and their passwords: then only they may log in, and a client must log in (plain AUTH over the
   * unencrypted connection). No spaces in passwords (Mailpit splits there). Without it any user and password
   * are accepted, or none.
   */
  users?: Record<string, string>;
}

const READY_TIMEOUT_MS = 10_000;
const POLL_MS = 20;

/**
 * The Mailpit binary: `$MAILPIT_BIN`, else `mailpit` on PATH, else `/usr/local/bin/mailpit` (where
 * `scripts/services.sh` installs it). Throws when none exists.
 */
export function mailpitBinary(): string {
  const fromEnv = Deno.env.get("MAILPIT_BIN");
  if (fromEnv) return fromEnv;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isFile(`${dir}/mailpit`)) return `${dir}/mailpit`;
  }
  if (isFile("/usr/local/bin/mailpit")) return "/usr/local/bin/mailpit";
  throw new Error("mailpit not found: run scripts/services.sh");
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Spawns Mailpit with a database in a fresh temporary directory and resolves once both its SMTP server and its
 * API answer. Fails (never skips) when Mailpit is not installed.
 *
 * @example
 * const mailpit = await startMailpit();
 * try {
 *   const mailer = new SmtpMailer({ url: mailpit.smtpUrl, from: "chat@example.com" });
 *   // ... something sends to alice@example.com
 *   const mail = await mailpit.waitForMessage("alice@example.com");
 * } finally {
 *   await mailpit.close();
 * }
 */
export async function startMailpit(options: MailpitOptions = {}): Promise<MailpitServer> {
  const binary = mailpitBinary();
  const dir = await Deno.makeTempDir({ prefix: "mailpit_" });
  try {
    const args: string[] = [];
    if (options.users) {
      const lines = Object.entries(options.users).map(([user, password]) => `${user}:${password}\n`);
      await Deno.writeTextFile(`${dir}/smtp-users`, lines.join(""));
      args.push(`--smtp-auth-file=${dir}/smtp-users`);
    } else {
      args.push("--smtp-auth-accept-any");
    }
    // Another process may take a port between freePort() and Mailpit's bind: then try others.
    const { process, smtpPort, httpPort } = await retryOnPortInUse(async () => {
      const [smtpPort, httpPort] = [freePort(), freePort()];
      return { process: await spawn(binary, dir, smtpPort, httpPort, args), smtpPort, httpPort };
    }, 3);
    return serve(process, dir, `smtp://127.0.0.1:${smtpPort}`, `http://127.0.0.1:${httpPort}`);
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

function serve(process: Process, dir: string, smtpUrl: string, apiUrl: string): MailpitServer {
  const returned = new Set<string>();
  const messages = async (to?: string): Promise<MailpitMessage[]> => {
    const body = await getJson(`${apiUrl}/api/v1/messages?limit=1000`) as { messages: ApiSummary[] };
    // The API lists the newest first.
    const all = body.messages.map(summaryOf).reverse();
    if (to === undefined) return all;
    const wanted = to.toLowerCase();
    return all.filter((message) => message.to.some((a) => a.address.toLowerCase() === wanted));
  };
  return {
    smtpUrl,
    apiUrl,
    messages,
    async waitForMessage(to, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const next = (await messages(to)).find((message) => !returned.has(message.id));
        if (next) {
          returned.add(next.id);
          return fullMessage(apiUrl, next.id);
        }
        if (Date.now() > deadline) {
          const seen = (await messages()).map((m) =>
            `${m.to.map((a) => a.address).join(", ")}: ${m.subject}`
          );
          throw new Error(
            `No new mail to ${to} within ${timeoutMs} ms; Mailpit has ${seen.length}:\n${seen.join("\n")}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    },
    async close() {
      try {
        process.child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await process.done;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

interface ApiAddress {
  Name: string;
  Address: string;
}

interface ApiSummary {
  ID: string;
  Subject: string;
  From: ApiAddress | null;
  To: ApiAddress[] | null;
  Username: string;
  Snippet: string;
}

interface ApiMessage extends ApiSummary {
  Text: string;
  HTML: string;
}

const addressOf = (a: ApiAddress): MailpitAddress => ({ name: a.Name, address: a.Address });

function summaryOf(m: ApiSummary): MailpitMessage {
  return {
    id: m.ID,
    subject: m.Subject,
    from: m.From ? addressOf(m.From) : { name: "", address: "" },
    to: (m.To ?? []).map(addressOf),
    username: m.Username ?? "",
    snippet: m.Snippet,
  };
}

async function fullMessage(apiUrl: string, id: string): Promise<ReceivedMail> {
  const m = await getJson(`${apiUrl}/api/v1/message/${encodeURIComponent(id)}`) as ApiMessage;
  return {
    id: m.ID,
    subject: m.Subject,
    from: m.From?.Address ?? "",
    fromName: m.From?.Name ?? "",
    to: (m.To ?? []).map((a) => a.Address),
    text: m.Text.replaceAll("\r\n", "\n"),
    html: m.HTML.replaceAll("\r\n", "\n"),
    username: m.Username ?? "",
  };
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/** Starts Mailpit on the two ports and resolves once both answer; on failure the process is gone. */
async function spawn(
  binary: string,
  dir: string,
  smtpPort: number,
  httpPort: number,
  args: string[],
): Promise<Process> {
  return await spawnUntilReady(
    "mailpit",
    binary,
    [
      `--smtp=127.0.0.1:${smtpPort}`,
      `--listen=127.0.0.1:${httpPort}`,
      `--database=${dir}/mailpit.db`,
      // Plain AUTH over the unencrypted loopback connection.
      "--smtp-auth-allow-insecure",
      "--smtp-disable-rdns",
      "--disable-version-check",
      "--quiet",
      ...args,
    ],
    smtpPort,
    async () => await isOurs(httpPort, dir) && await accepts(smtpPort),
    READY_TIMEOUT_MS,
  );
}

async function isOurs(httpPort: number, dir: string): Promise<boolean> {
  try {
    const info = await getJson(`http://127.0.0.1:${httpPort}/api/v1/info`) as { Database?: string };
    return info.Database === `${dir}/mailpit.db`;
  } catch {
    return false;
  }
}
