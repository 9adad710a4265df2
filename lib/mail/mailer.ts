/**
 * Outgoing mail (password resets): the `Mailer` port, and `LogMailer`, what the server uses when no SMTP server
 * is configured. The SMTP adapter is `SmtpMailer` in ./smtp.ts.
 */

import type { Logger } from "../log.ts";

/** One message to one recipient. `text` is required (every client can show it); `html` is an alternative. */
export interface Mail {
  /** One address, e.g. `alice@example.com` or `Alice <alice@example.com>`. */
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/**
 * Sends mail. `send` resolves once the message is handed over (an SMTP server accepted it) and rejects with a
 * `MailError` when it was not; `close` lets go of connections (call it at shutdown).
 */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close?(): Promise<void>;
}

/** Why a message was not sent. `code` is the SMTP client's error code when there is one (`ECONNECTION`, `EAUTH`, …). */
export class MailError extends Error {
  constructor(message: string, readonly code?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MailError";
  }
}

/**
 * The mailer without an SMTP server: sends nothing and logs one warning per message with its recipient and
 * subject, never its body (a password-reset mail holds a secret link).
 *
 * @example
 * const mailer: Mailer = config.smtpUrl
 *   ? new SmtpMailer({ url: config.smtpUrl, from: config.mailFrom })
 *   : new LogMailer(logger);
 */
export class LogMailer implements Mailer {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  send(mail: Mail): Promise<void> {
    this.#logger.warn("Mail is not configured (set SMTP_URL and MAIL_FROM): a message was not sent", {
      to: mail.to,
      subject: mail.subject,
    });
    return Promise.resolve();
  }
}
