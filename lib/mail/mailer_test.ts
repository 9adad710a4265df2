import assert from "node:assert/strict";
import { startMailpit } from "../../tests/helpers/mailpit.ts";
import { freePort } from "../../tests/helpers/redis.ts";
import { type LogFields, Logger, type LogLevel } from "../log.ts";
import { LogMailer, MailError } from "./mailer.ts";
import { SmtpMailer } from "./smtp.ts";

const FROM = "Chat Server <chat@example.com>";

Deno.test("SmtpMailer: a message arrives with its subject, text, HTML, From and To, UTF-8 intact", async () => {
  const mailpit = await startMailpit();
  const mailer = new SmtpMailer({ url: mailpit.smtpUrl, from: FROM });
  try {
    const subject = "Réinitialisez votre mot de passe 🔑 — Zoë";
    const text =
      "Bonjour Zoë,\n\nvoici le lien : https://chat.example.com/reset#tok=abc 🙂\nÀ bientôt — ça marche ✅";
    const html = '<p>Bonjour Zoë, <a href="https://chat.example.com/reset#tok=abc">réinitialiser</a> 🙂</p>';
    await mailer.send({ to: "zoe@example.com", subject, text, html });

    const mail = await mailpit.waitForMessage("zoe@example.com");
    assert.equal(mail.subject, subject);
    assert.equal(mail.text, text);
    assert.equal(mail.html, html);
    assert.equal(mail.from, "chat@example.com");
    assert.equal(mail.fromName, "Chat Server");
    assert.deepEqual(mail.to, ["zoe@example.com"]);
  } finally {
    await mailer.close();
    await mailpit.close();
  }
});

Deno.test("SmtpMailer: a text-only message has no HTML part; messages sent at once all arrive, once each", async () => {
  const mailpit = await startMailpit();
  const mailer = new SmtpMailer({ url: mailpit.smtpUrl, from: "chat@example.com" });
  try {
    await mailer.send({ to: "alice@example.com", subject: "Plain", text: "Only text" });
    const plain = await mailpit.waitForMessage("alice@example.com");
    // A body that is the whole message (no alternative parts) ends with a line break on the wire.
    assert.equal(plain.text, "Only text\n");
    assert.equal(plain.html, "");
    assert.equal(plain.fromName, "");

    const recipients = [
      "b1@example.com",
      "b2@example.com",
      "b3@example.com",
      "b4@example.com",
      "b5@example.com",
    ];
    await Promise.all(recipients.map((to) => mailer.send({ to, subject: `For ${to}`, text: `Hello ${to}` })));
    for (const to of recipients) {
      const mail = await mailpit.waitForMessage(to);
      assert.equal(mail.subject, `For ${to}`);
      assert.deepEqual(mail.to, [to]);
    }
    assert.equal((await mailpit.messages()).length, 6);
    assert.equal((await mailpit.messages("B3@example.com")).length, 1);
  } finally {
    await mailer.close();
    await mailpit.close();
  }
});

Deno.test("SmtpMailer: logs in with the URL's user and password (percent-encoded); a wrong password rejects with EAUTH", async () => {
  const password = "p@ss:w/rd%?#";
  const mailpit = await startMailpit({ users: { chat: password } });
  const { port } = new URL(mailpit.smtpUrl);
  const good = new SmtpMailer({
    url: `smtp://chat:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    from: "chat@example.com",
  });
  const bad = new SmtpMailer({ url: `smtp://chat:not-it@127.0.0.1:${port}`, from: "chat@example.com" });
  const anonymous = new SmtpMailer({ url: mailpit.smtpUrl, from: "chat@example.com" });
  try {
    await good.send({ to: "alice@example.com", subject: "Hi", text: "Logged in" });
    const mail = await mailpit.waitForMessage("alice@example.com");
    assert.equal(mail.username, "chat");

    const error = await bad.send({ to: "alice@example.com", subject: "Hi", text: "x" }).then(
      () => assert.fail("sent with a wrong password"),
      (error) => error,
    );
    assert.ok(error instanceof MailError);
    assert.equal(error.code, "EAUTH");
    assert.match(error.message, new RegExp(`^Mail to smtp://127\\.0\\.0\\.1:${port} not sent: `));
    assert.doesNotMatch(error.message, /not-it/);

    const refused = await anonymous.send({ to: "alice@example.com", subject: "Hi", text: "x" }).then(
      () => assert.fail("sent without logging in"),
      (error) => error,
    );
    assert.ok(refused instanceof MailError);
    assert.equal(refused.code, "EENVELOPE");
    assert.match(refused.message, / not sent: Mail command failed: 530 5\.7\.0 Authentication required$/);
    assert.equal((await mailpit.messages()).length, 1);
  } finally {
    await Promise.all([good.close(), bad.close(), anonymous.close()]);
    await mailpit.close();
  }
});

Deno.test("SmtpMailer: a refused connection rejects at once with a MailError naming the server", async () => {
  const port = freePort();
  const mailer = new SmtpMailer({ url: `smtp://user:secret@127.0.0.1:${port}`, from: "chat@example.com" });
  try {
    const error = await mailer.send({ to: "alice@example.com", subject: "Hi", text: "x" }).then(
      () => assert.fail("sent to a closed port"),
      (error) => error,
    );
    assert.ok(error instanceof MailError);
    assert.equal(error.name, "MailError");
    assert.equal(error.code, "ESOCKET");
    assert.equal(
      error.message,
      `Mail to smtp://127.0.0.1:${port} not sent: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    assert.doesNotMatch(error.message, /secret/);
  } finally {
    await mailer.close();
  }
});

Deno.test("SmtpMailer: a server that accepts but never greets rejects after the greeting timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  const mailer = new SmtpMailer({
    url: `smtp://127.0.0.1:${port}`,
    from: "chat@example.com",
    greetingTimeoutMs: 200,
  });
  try {
    const error = await mailer.send({ to: "alice@example.com", subject: "Hi", text: "x" }).then(
      () => assert.fail("sent to a silent server"),
      (error) => error,
    );
    assert.ok(error instanceof MailError);
    assert.equal(error.code, "ETIMEDOUT");
    assert.equal(error.message, `Mail to smtp://127.0.0.1:${port} not sent: Greeting never received`);
    assert.ok(accepted.length >= 1);
  } finally {
    await mailer.close();
    listener.close();
    await accepting;
    for (const conn of accepted) {
      try {
        conn.close();
      } catch {
        // The client closed it first.
      }
    }
  }
});

Deno.test("SmtpMailer: a server that greets, then never answers, rejects once the send's time is up", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      accepted.push(conn);
      await conn.write(new TextEncoder().encode("220 silent.example.com ESMTP\r\n"));
    }
  })();
  const mailer = new SmtpMailer({
    url: `smtp://127.0.0.1:${port}`,
    from: "chat@example.com",
    sendTimeoutMs: 300,
  });
  try {
    const error = await mailer.send({ to: "alice@example.com", subject: "Hi", text: "x" }).then(
      () => assert.fail("sent to a server that never answered"),
      (error) => error,
    );
    assert.ok(error instanceof MailError);
    assert.equal(error.code, "ETIMEDOUT");
    assert.equal(error.message, `Mail to smtp://127.0.0.1:${port} not sent: no answer within 300 ms`);
  } finally {
    await mailer.close();
    listener.close();
    await accepting;
    for (const conn of accepted) {
      try {
        conn.close();
      } catch {
        // The client closed it first.
      }
    }
  }
});

Deno.test("SmtpMailer: a recipient that is not one address, or a send after close, rejects without a connection", async () => {
  const port = freePort();
  const mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${port}`, from: "chat@example.com" });
  for (
    const to of ["a@example.com, b@example.com", "a@example.com\r\nBcc: b@example.com", "a@x.com;b@x.com"]
  ) {
    const error = await mailer.send({ to, subject: "Hi", text: "x" }).then(() => null, (error) => error);
    assert.ok(error instanceof MailError, to);
    assert.equal(error.code, "EENVELOPE");
    assert.equal(error.message, `Mail not sent: ${JSON.stringify(to)} is not one address`);
  }
  await mailer.close();
  const error = await mailer.send({ to: "a@example.com", subject: "Hi", text: "x" }).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof MailError);
  assert.equal(error.code, "ECLOSED");
  assert.equal(error.message, `Mail to smtp://127.0.0.1:${port} not sent: the mailer is closed`);
});

Deno.test("SmtpMailer: an URL that is not smtp: or smtps:, or no From, is refused without showing the password", () => {
  assert.throws(
    () => new SmtpMailer({ url: "http://user:hunter2@mail.example.com", from: "chat@example.com" }),
    { message: "SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://…, not http://mail.example.com" },
  );
  assert.throws(
    () => new SmtpMailer({ url: "mail.example.com:25", from: "chat@example.com" }),
    /^Error: SMTP_URL must be smtp:\/\/\[user:pass@\]host\[:port\] or smtps:\/\/…, not mail\.example\.com:\/\/$/,
  );
  assert.throws(
    () => new SmtpMailer({ url: "not a url", from: "chat@example.com" }),
    { message: "SMTP_URL is not a URL: expected smtp://[user:pass@]host[:port] or smtps://…" },
  );
  assert.throws(
    () => new SmtpMailer({ url: "smtp://mail.example.com", from: " " }),
    { message: "SmtpMailer needs a From address (MAIL_FROM)" },
  );
});

Deno.test("LogMailer: logs one warning with the recipient and subject, never the body", async () => {
  const entries: { level: LogLevel; message: string; fields: LogFields }[] = [];
  const logger = new Logger("debug", (level, message, fields) => entries.push({ level, message, fields }));
  const mailer = new LogMailer(logger.with({ component: "mail" }));
  await mailer.send({
    to: "alice@example.com",
    subject: "Reset your password",
    text: "https://chat.example.com/reset#token=SECRET-TEXT",
    html: '<a href="https://chat.example.com/reset#token=SECRET-HTML">reset</a>',
  });
  assert.deepEqual(entries, [{
    level: "warn",
    message: "Mail is not configured (set SMTP_URL and MAIL_FROM): a message was not sent",
    fields: { component: "mail", to: "alice@example.com", subject: "Reset your password" },
  }]);
  assert.doesNotMatch(JSON.stringify(entries), /SECRET/);
});
