import { takeAuthAttempt } from "../lib/web/auth_attempts.ts";
import { clientIpOf } from "../lib/web/client_ip.ts";
import { formError, problemsOf } from "../lib/web/form_errors.ts";
import { ErrorSummary } from "../components/ErrorSummary.tsx";
import { SsoButton } from "../components/SsoButton.tsx";
import { ssoErrorMessage } from "../lib/auth/sso.ts";
import { Field } from "../components/Field.tsx";
import { page, type PageProps } from "../lib/fresh/mod.ts";
import {
  define,
  isHttps,
  noticeCookie,
  readForm,
  redirect,
  safeNext,
  sessionCookies,
  type State,
} from "../utils.ts";

interface Data {
  intent?: "login" | "signup" | "two-factor";
  errors: Record<string, string>;
  values: Record<string, string>;
  /** The second step of a sign-in whose password was right. */
  mfaToken?: string;
}

/** Each form's fields, in order, with the id of their input (the error summary links to it). */
const LOGIN_INPUTS = { login: "login-name", password: "login-password" };
const SIGNUP_INPUTS = { username: "signup-username", email: "signup-email", password: "signup-password" };
const CODE_INPUTS = { code: "two-factor-code" };

/**
 * Home: what this is, then log in (by username or email) or sign up. Both forms work without JavaScript; a
 * refused one comes back with every problem listed at its top and shown by its field, the values kept but the
 * password.
 */
export const handler = define.handlers<Data>({
  GET(ctx) {
    if (ctx.state.user) return redirect("/rooms", [], 302);
    const oidc = ctx.state.services.config.oidc;
    const ssoFailed = oidc && ssoErrorMessage(ctx.url.searchParams.get("sso_error"), oidc.name);
    const mfaToken = ctx.url.searchParams.get("two_factor");
    if (mfaToken !== null) {
      // Single sign-on of an account with two-factor sign-in on: the code is still to come.
      ctx.state.title = "Two-factor sign-in";
      return page({ intent: "two-factor", errors: {}, values: {}, mfaToken });
    }
    ctx.state.title = ssoFailed ? "Error: Welcome" : "Welcome";
    return page({ errors: {}, values: {} });
  },

  async POST(ctx) {
    const { auth, authLimiter, config, sessions } = ctx.state.services;
    const { fields } = await readForm(ctx.req);
    const intent = fields.intent === "signup"
      ? "signup"
      : fields.intent === "two-factor"
      ? "two-factor"
      : "login";
    const values = {
      login: (fields.login ?? "").trim(),
      username: (fields.username ?? "").trim(),
      email: (fields.email ?? "").trim(),
    };
    const ip = clientIpOf(ctx.req, ctx.info, config.trustProxy);
    const device = { userAgent: ctx.req.headers.get("user-agent") ?? undefined, ip };
    try {
      await takeAuthAttempt(authLimiter, ip);
      const password = fields.password ?? "";
      let answer;
      if (intent === "two-factor") {
        answer = await auth.loginSecondFactor(
          { mfa_token: fields.mfa_token ?? "", code: fields.code ?? "" },
          device,
        );
      } else {
        // A space typed or pasted around a name is not part of it (the API takes names exactly as sent).
        if (intent === "signup") {
          await auth.register({ username: values.username, email: values.email, password });
        }
        answer = await auth.login(
          { login: intent === "signup" ? values.email : values.login, password },
          device,
        );
      }
      if ("two_factor_required" in answer) {
        ctx.state.title = "Two-factor sign-in";
        return page({ intent: "two-factor", values: {}, errors: {}, mfaToken: answer.mfa_token });
      }
      const cookies = sessionCookies(answer, sessions.refreshTtlSeconds, isHttps(ctx.req, config.trustProxy));
      if (answer.notice !== undefined) cookies.push(noticeCookie(answer.notice));
      return redirect(safeNext(ctx.url.searchParams.get("next")), cookies);
    } catch (error) {
      const inputs = intent === "signup"
        ? SIGNUP_INPUTS
        : intent === "two-factor"
        ? CODE_INPUTS
        : LOGIN_INPUTS;
      const { errors, status, headers } = formError(error, [
        ...Object.keys(inputs),
        "credentials",
        "two_factor_code",
      ]);
      // Wrong credentials are shown by the password, the field to type again; a wrong code by the code.
      if (errors.credentials) errors.password = errors.credentials;
      if (errors.two_factor_code) errors.code = errors.two_factor_code;
      delete errors.credentials;
      delete errors.two_factor_code;
      if (intent === "two-factor" && errors.code === undefined) {
        // The pending sign-in expired (or the account locked): start again from the password.
        ctx.state.title = "Error: Welcome";
        return page({
          intent: "login",
          values: {},
          errors: { password: Object.values(errors)[0] ?? "Sign in again" },
        }, {
          status,
          headers,
        });
      }
      ctx.state.title = intent === "two-factor" ? "Error: Two-factor sign-in" : "Error: Welcome";
      return page({ intent, values, errors, mfaToken: fields.mfa_token }, { status, headers });
    }
  },
});

export default function Home({ data, url, state }: PageProps<Data, State>) {
  // The page to go back to after signing in survives the form posts.
  const next = url.searchParams.get("next");
  const formAction = next === null ? "/" : `/?${new URLSearchParams({ next })}`;
  if (data.intent === "two-factor") return <SecondFactor data={data} action={formAction} />;
  const none = { errors: {} as Record<string, string>, values: {} as Record<string, string> };
  const oidc = state.services.config.oidc;
  const ssoError = oidc && ssoErrorMessage(url.searchParams.get("sso_error"), oidc.name);
  const login = data.intent === "login" ? data : none;
  const signup = data.intent === "signup" ? data : none;
  return (
    <div class="home">
      <section class="home-intro" aria-labelledby="home-title">
        <h1 id="home-title">Team chat on your own server</h1>
        <p class="home-lead">
          A place for your team to talk: chat in rooms, send direct messages, and see new messages the moment
          they are written. It runs on a server you host, so your conversations stay with you.
        </p>
        <ul class="home-points">
          <li>
            <strong>Rooms</strong> for topics, public or private
          </li>
          <li>
            <strong>Direct messages</strong> with one person
          </li>
          <li>
            <strong>Live</strong>: messages, typing and who is online
          </li>
          <li>
            <strong>Your own server</strong>: your data stays with you
          </li>
        </ul>
      </section>
      <div class="auth">
        <section aria-labelledby="login-title" class="card">
          <h2 id="login-title">Log in</h2>
          {url.searchParams.get("reset") === "done" && (
            <p class="notice status-message" role="status">
              Your password was changed and you were signed out everywhere. Sign in with the new password.
            </p>
          )}
          <ErrorSummary id="login-errors" problems={problemsOf(login.errors, LOGIN_INPUTS)} />
          {ssoError && <ErrorSummary id="sso-errors" problems={[{ message: ssoError }]} />}
          <form method="post" action={formAction} id="login-form" novalidate>
            <input type="hidden" name="intent" value="login" />
            <Field
              id={LOGIN_INPUTS.login}
              name="login"
              label="Username or email"
              autocomplete="username"
              value={login.values.login}
              error={login.errors.login}
              required
              summarised
            />
            <Field
              id={LOGIN_INPUTS.password}
              name="password"
              label="Password"
              type="password"
              autocomplete="current-password"
              error={login.errors.password}
              required
              summarised
            />
            <button type="submit">Log in</button>
          </form>
          <p class="auth-aside">
            <a href="/forgot-password">Forgot your password?</a>
          </p>
          {oidc && <SsoButton name={oidc.name} next={url.searchParams.get("next")} />}
        </section>
        <section aria-labelledby="signup-title" class="card">
          <h2 id="signup-title">Create an account</h2>
          <ErrorSummary id="signup-errors" problems={problemsOf(signup.errors, SIGNUP_INPUTS)} />
          <form method="post" action={formAction} id="signup-form" novalidate>
            <input type="hidden" name="intent" value="signup" />
            <Field
              id={SIGNUP_INPUTS.username}
              name="username"
              label="Username"
              autocomplete="username"
              value={signup.values.username}
              error={signup.errors.username}
              hint="3-32 letters, digits, dots, dashes or underscores"
              required
              summarised
            />
            <Field
              id={SIGNUP_INPUTS.email}
              name="email"
              label="Email"
              type="email"
              autocomplete="email"
              value={signup.values.email}
              error={signup.errors.email}
              required
              summarised
            />
            <Field
              id={SIGNUP_INPUTS.password}
              name="password"
              label="Password"
              type="password"
              autocomplete="new-password"
              error={signup.errors.password}
              hint="At least 8 characters"
              required
              summarised
            />
            <button type="submit">Create account</button>
          </form>
        </section>
      </div>
    </div>
  );
}

/** The second step of a sign-in: the authenticator app's code, or a recovery code. */
function SecondFactor({ data, action }: { data: Data; action: string }) {
  return (
    <div class="auth auth-single">
      <section aria-labelledby="two-factor-title" class="card">
        <h1 id="two-factor-title">Two-factor sign-in</h1>
        <ErrorSummary id="two-factor-errors" problems={problemsOf(data.errors, CODE_INPUTS)} />
        <form method="post" action={action} id="two-factor-form" novalidate>
          <input type="hidden" name="intent" value="two-factor" />
          <input type="hidden" name="mfa_token" value={data.mfaToken ?? ""} />
          <Field
            id={CODE_INPUTS.code}
            name="code"
            label="Code"
            autocomplete="one-time-code"
            hint="The 6-digit code your authenticator app shows now, or one of your recovery codes"
            error={data.errors.code}
            required
            summarised
          />
          <button type="submit">Verify</button>
        </form>
        <p class="auth-aside">
          <a href="/">Start again</a>
        </p>
      </section>
    </div>
  );
}
