/** The `Mailer` over SMTP (nodemailer's pooled transport): what the server uses when SMTP_URL is set. */

import nodemailer from "nodemailer";
import { type Mail, type Mailer, MailError } from "./mailer.ts";

export interface SmtpMailerOptions {
  /**
   * `smtp://[user:pass@]host[:port]` (plain, upgraded with STARTTLS when the server offers it; port 587 by
   * default) or `smtps://…` (TLS from the start; port 465 by default). Percent-encode `@`, `:` and `/` in the
   * user and password. Query options reach nodemailer as they are, e.g. `?requireTLS=true`,
   * `?tls.rejectUnauthorized=false`.
   */
  url: string;
  /** The From header and envelope sender (MAIL_FROM), e.g. `Chat <noreply@example.com>`. */
  from: string;
  /** Milliseconds to open the TCP (and TLS) connection; 5 s by default. */
  connectionTimeoutMs?: number;
  /** Milliseconds to wait for the server's greeting once connected; 5 s by default. */
  greetingTimeoutMs?: number;
  /** Milliseconds the connection may be silent while a message is sent; 15 s by default. */
  socketTimeoutMs?: number;
  /** Milliseconds one `send` may take in all (a server that trickles its replies); 30 s by default. */
  sendTimeoutMs?: number;
  /** Connections the pool opens at most; 2 by default. */
  maxConnections?: number;
}

/** A recipient is one address: no line breaks (header injection) and no list (`,` `;`). */
const NOT_ONE_ADDRESS = /[\r\n,;]/;

/**
 * Sends mail through one SMTP server over a small pool of connections that stay open between messages (idle
 * ones close after a minute). A message that is not sent rejects with a `MailError` naming the server (never
 * its credentials) and the reason; no `send` waits longer than `sendTimeoutMs`.
 *
 * @example
 * const mailer = new SmtpMailer({ url: "smtps://user:secret@smtp.example.com", from: "Chat <chat@example.com>" });
 * await mailer.send({ to: "alice@example.com", subject: "Reset your password", text: "…" });
 * await mailer.close();
 */
export class SmtpMailer implements Mailer {
  readonly #transport: ReturnType<typeof nodemailer.createTransport>;
  readonly #from: string;
  readonly #server: string;
  readonly #sendTimeoutMs: number;
  #closed = false;

  /** Throws (naming the server, not the credentials) when `url` is not an smtp: or smtps: URL. */
  constructor(options: SmtpMailerOptions) {
    this.#server = serverOf(options.url);
    if (!options.from.trim()) throw new Error("SmtpMailer needs a From address (MAIL_FROM)");
    this.#from = options.from;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
    this.#transport = nodemailer.createTransport({
      pool: true,
      url: options.url,
      maxConnections: options.maxConnections ?? 2,
      idleTimeout: 60_000,
      // A message whose connection drops while sending it (a pooled one the server closed) is tried once more.
      maxRequeues: 1,
      connectionTimeout: options.connectionTimeoutMs ?? 5_000,
      greetingTimeout: options.greetingTimeoutMs ?? 5_000,
      socketTimeout: options.socketTimeoutMs ?? 15_000,
      dnsTimeout: options.connectionTimeoutMs ?? 5_000,
    });
  }

  async send(mail: Mail): Promise<void> {
    if (this.#closed) {
      throw new MailError(`Mail to ${this.#server} not sent: the mailer is closed`, "ECLOSED");
    }
    if (NOT_ONE_ADDRESS.test(mail.to)) {
      throw new MailError(`Mail not sent: ${JSON.stringify(mail.to)} is not one address`, "EENVELOPE");
    }
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`no answer within ${this.#sendTimeoutMs} ms`)),
      this.#sendTimeoutMs,
    );
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        ...(mail.html === undefined ? {} : { html: mail.html }),
        signal: deadline.signal,
      });
    } catch (error) {
      const { message, code } = describe(error, deadline.signal);
      throw new MailError(`Mail to ${this.#server} not sent: ${message}`, code, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the idle connections at once; one that is sending finishes first. Later sends reject. */
  close(): Promise<void> {
    this.#closed = true;
    this.#transport.close();
    return Promise.resolve();
  }
}

/** `smtp://host:port` of an SMTP URL, without credentials or options. */
function serverOf(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("SMTP_URL is not a URL: expected smtp://[user:pass@]host[:port] or smtps://…");
  }
  if ((parsed.protocol !== "smtp:" && parsed.protocol !== "smtps:") || !parsed.hostname) {
    throw new Error(
      `SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://…, not ${parsed.protocol}//${parsed.host}`,
    );
  }
  const port = parsed.port || (parsed.protocol === "smtps:" ? "465" : "587");
  return `${parsed.protocol}//${parsed.hostname}:${port}`;
}

function describe(error: unknown, deadline: AbortSignal): { message: string; code?: string } {
  if (deadline.aborted) {
    return { message: String((deadline.reason as Error).message), code: "ETIMEDOUT" };
  }
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { message: error.message, code: typeof code === "string" ? code : undefined };
}
