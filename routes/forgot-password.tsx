import { ErrorSummary } from "../components/ErrorSummary.tsx";
import { Field } from "../components/Field.tsx";
import { page, type PageProps } from "../lib/fresh/mod.ts";
import { takeAuthAttempt } from "../lib/web/auth_attempts.ts";
import { clientIpOf } from "../lib/web/client_ip.ts";
import { formError, problemsOf } from "../lib/web/form_errors.ts";
import { publicBaseOf } from "../lib/auth/session.ts";
import { define, readForm, redirect, type State } from "../utils.ts";

interface Data {
  /** The request went out: the page says to look in the mailbox. */
  sent: boolean;
  errors: Record<string, string>;
  email?: string;
}

/** The form's field with the id of its input (the error summary links to it). */
const INPUTS = { email: "reset-email" };

/**
 * "Forgot your password?": an email address, then the same answer whether or not an account has it (so the
 * page tells nobody which addresses have accounts); the mail holds a link to /reset-password. Each request
 * takes one attempt from the address's register/login budget.
 */
export const handler = define.handlers<Data>({
  GET(ctx) {
    const sent = ctx.url.searchParams.get("sent") === "1";
    ctx.state.title = sent ? "Check your email" : "Reset your password";
    return page({ sent, errors: {} });
  },

  async POST(ctx) {
    const { authLimiter, config, passwordReset } = ctx.state.services;
    const { fields } = await readForm(ctx.req);
    const email = (fields.email ?? "").trim();
    try {
      await takeAuthAttempt(authLimiter, clientIpOf(ctx.req, ctx.info, config.trustProxy));
      await passwordReset.request({ email }, publicBaseOf(ctx.req, config));
      return redirect("/forgot-password?sent=1");
    } catch (error) {
      const { errors, status, headers } = formError(error, Object.keys(INPUTS));
      ctx.state.title = "Error: Reset your password";
      return page({ sent: false, errors, email }, { status, headers });
    }
  },
});

export default function ForgotPassword({ data }: PageProps<Data, State>) {
  return (
    <div class="auth auth-single">
      <section aria-labelledby="forgot-title" class="card">
        {data.sent
          ? (
            <>
              <h1 id="forgot-title">Check your email</h1>
              <p class="notice status-message" role="status">
                If an account has that address, we sent a link. It works for 30 minutes.
              </p>
              <p>
                Open the link in the mail to choose a new password. No mail? Look in your spam folder, or{" "}
                <a href="/forgot-password">ask again</a>.
              </p>
            </>
          )
          : (
            <>
              <h1 id="forgot-title">Reset your password</h1>
              <p>
                Enter the email address of your account and we will send you a link to choose a new password.
              </p>
              <ErrorSummary id="forgot-errors" problems={problemsOf(data.errors, INPUTS)} />
              <form method="post" action="/forgot-password" id="forgot-form" novalidate>
                <Field
                  id={INPUTS.email}
                  name="email"
                  label="Email"
                  type="email"
                  autocomplete="email"
                  value={data.email}
                  error={data.errors.email}
                  required
                  summarised
                />
                <button type="submit">Send the link</button>
              </form>
            </>
          )}
        <p class="auth-aside">
          <a href="/">Back to sign in</a>
        </p>
      </section>
    </div>
  );
}
