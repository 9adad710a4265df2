import { ErrorSummary } from "../components/ErrorSummary.tsx";
import { Field } from "../components/Field.tsx";
import { ChatError } from "../lib/errors.ts";
import { page, type PageProps } from "../lib/fresh/mod.ts";
import { takeAuthAttempt } from "../lib/web/auth_attempts.ts";
import { clientIpOf } from "../lib/web/client_ip.ts";
import { formError, problemsOf } from "../lib/web/form_errors.ts";
import { clearedSessionCookies, define, isHttps, readForm, redirect, type State } from "../utils.ts";

interface Data {
  /** The token of the mail's link; empty when the link has none. */
  token: string;
  /** The link cannot be used (used, expired, unknown or cut short): the page says to ask again. */
  invalid?: string;
  errors: Record<string, string>;
}

/** The form's field with the id of its input (the error summary links to it). */
const INPUTS = { new_password: "reset-new-password" };

/** The link's token is a secret: no cache keeps the page. */
const NO_STORE = { "cache-control": "no-store" };

/**
 * The password-reset mail's link (`?token=`): a new password, once. It signs the account out everywhere, then
 * the home page says to sign in with the new password. A link that was used, expired or is unknown says so,
 * with a link to ask for a new one.
 */
export const handler = define.handlers<Data>({
  GET(ctx) {
    const token = ctx.url.searchParams.get("token") ?? "";
    ctx.state.title = "Choose a new password";
    if (token === "") {
      return page({ token, invalid: INCOMPLETE, errors: {} }, { status: 400, headers: NO_STORE });
    }
    return page({ token, errors: {} }, { headers: NO_STORE });
  },

  async POST(ctx) {
    const { authLimiter, config, passwordReset } = ctx.state.services;
    const { fields } = await readForm(ctx.req);
    const token = fields.token ?? "";
    try {
      await takeAuthAttempt(authLimiter, clientIpOf(ctx.req, ctx.info, config.trustProxy));
      await passwordReset.confirm({ token, new_password: fields.new_password ?? "" });
      return redirect("/?reset=done", clearedSessionCookies(isHttps(ctx.req, config.trustProxy)));
    } catch (error) {
      const { errors, status, headers } = formError(error, [...Object.keys(INPUTS), "token"]);
      // A link that cannot work any more is the page's whole message; a weak password is the field's.
      const invalid = errors.token ??
        (error instanceof ChatError && error.code === "invalid_reset_token" ? error.message : undefined);
      ctx.state.title = invalid ? "Error: This link does not work" : "Error: Choose a new password";
      return page({ token, invalid, errors }, { status, headers: { ...headers, ...NO_STORE } });
    }
  },
});

const INCOMPLETE = "The reset link is incomplete; open it again from the mail";

export default function ResetPassword({ data }: PageProps<Data, State>) {
  return (
    <div class="auth auth-single">
      <section aria-labelledby="reset-title" class="card">
        {data.invalid !== undefined
          ? (
            <>
              <h1 id="reset-title">This link does not work</h1>
              <ErrorSummary id="reset-link-errors" problems={[{ message: data.invalid }]} />
              <p>
                A reset link works once, for 30 minutes. <a href="/forgot-password">Ask for a new link</a>.
              </p>
            </>
          )
          : (
            <>
              <h1 id="reset-title">Choose a new password</h1>
              <p>Choosing a new password signs you out on every device.</p>
              <ErrorSummary id="reset-errors" problems={problemsOf(data.errors, INPUTS)} />
              <form method="post" action="/reset-password" id="reset-form" novalidate>
                <input type="hidden" name="token" value={data.token} />
                <Field
                  id={INPUTS.new_password}
                  name="new_password"
                  label="New password"
                  type="password"
                  autocomplete="new-password"
                  hint="At least 8 characters"
                  error={data.errors.new_password}
                  required
                  summarised
                />
                <button type="submit">Change password</button>
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
