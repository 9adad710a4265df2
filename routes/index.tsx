import { takeAuthAttempt } from "../lib/web/auth_attempts.ts";
import { clientIpOf } from "../lib/web/client_ip.ts";
import { formError, problemsOf } from "../lib/web/form_errors.ts";
import { ErrorSummary } from "../components/ErrorSummary.tsx";
import { SsoButton } from "../components/SsoButton.tsx";
import { ssoErrorMessage } from "../lib/auth/sso.ts";
import { Field } from "../components/Field.tsx";
import { page, type PageProps } from "../lib/fresh/mod.ts";
import { define, isHttps, readForm, redirect, safeNext, sessionCookies, type State } from "../utils.ts";

interface Data {
  intent?: "login" | "signup";
  errors: Record<string, string>;
  values: Record<string, string>;
}

/** Each form's fields, in order, with the id of their input (the error summary links to it). */
const LOGIN_INPUTS = { login: "login-name", password: "login-password" };
const SIGNUP_INPUTS = { username: "signup-username", email: "signup-email", password: "signup-password" };

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
    ctx.state.title = ssoFailed ? "Error: Welcome" : "Welcome";
    return page({ errors: {}, values: {} });
  },

  async POST(ctx) {
    const { auth, authLimiter, config, sessions } = ctx.state.services;
    const { fields } = await readForm(ctx.req);
    const intent = fields.intent === "signup" ? "signup" : "login";
    const values = {
      login: (fields.login ?? "").trim(),
      username: (fields.username ?? "").trim(),
      email: (fields.email ?? "").trim(),
    };
    try {
      await takeAuthAttempt(authLimiter, clientIpOf(ctx.req, ctx.info, config.trustProxy));
      const password = fields.password ?? "";
      // A space typed or pasted around a name is not part of it (the API takes names exactly as sent).
      if (intent === "signup") {
        await auth.register({ username: values.username, email: values.email, password });
      }
      const ip = clientIpOf(ctx.req, ctx.info, config.trustProxy);
      const issued = await auth.login({
        login: intent === "signup" ? values.email : values.login,
        password,
      }, { userAgent: ctx.req.headers.get("user-agent") ?? undefined, ip });
      const secure = isHttps(ctx.req, config.trustProxy);
      return redirect(
        safeNext(ctx.url.searchParams.get("next")),
        sessionCookies(issued, sessions.refreshTtlSeconds, secure),
      );
    } catch (error) {
      const inputs = intent === "signup" ? SIGNUP_INPUTS : LOGIN_INPUTS;
      const { errors, status, headers } = formError(error, [...Object.keys(inputs), "credentials"]);
      // Wrong credentials are shown by the password, the field to type again.
      if (errors.credentials) errors.password = errors.credentials;
      delete errors.credentials;
      ctx.state.title = "Error: Welcome";
      return page({ intent, values, errors }, { status, headers });
    }
  },
});

export default function Home({ data, url, state }: PageProps<Data, State>) {
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
          <ErrorSummary id="login-errors" problems={problemsOf(login.errors, LOGIN_INPUTS)} />
          {ssoError && <ErrorSummary id="sso-errors" problems={[{ message: ssoError }]} />}
          <form method="post" action="/" id="login-form" novalidate>
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
          {oidc && <SsoButton name={oidc.name} next={url.searchParams.get("next")} />}
        </section>
        <section aria-labelledby="signup-title" class="card">
          <h2 id="signup-title">Create an account</h2>
          <ErrorSummary id="signup-errors" problems={problemsOf(signup.errors, SIGNUP_INPUTS)} />
          <form method="post" action="/" id="signup-form" novalidate>
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
