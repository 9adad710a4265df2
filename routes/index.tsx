import { takeAuthAttempt } from "../lib/web/auth_attempts.ts";
import { clientIpOf } from "../lib/web/client_ip.ts";
import { formError } from "../lib/web/form_errors.ts";
import { Field } from "../components/Field.tsx";
import { page, type PageProps } from "../lib/fresh/mod.ts";
import { define, readForm, redirect, sessionCookie, type State } from "../utils.ts";

interface Data {
  intent?: "login" | "signup";
  errors: Record<string, string>;
  values: Record<string, string>;
}

/** Home: log in or sign up. Both forms work without JavaScript and show the server's messages by the field. */
export const handler = define.handlers<Data>({
  GET(ctx) {
    if (ctx.state.user) return redirect("/rooms", [], 302);
    ctx.state.title = "Welcome";
    return page({ errors: {}, values: {} });
  },

  async POST(ctx) {
    const { auth, authLimiter, config } = ctx.state.services;
    ctx.state.title = "Welcome";
    const { fields } = await readForm(ctx.req);
    const intent = fields.intent === "signup" ? "signup" : "login";
    const values = { username: fields.username ?? "", email: fields.email ?? "" };
    try {
      await takeAuthAttempt(authLimiter, clientIpOf(ctx.req, ctx.info, config.trustProxy));
      if (intent === "signup") await auth.register(fields);
      const { token } = await auth.login(fields);
      const next = ctx.url.searchParams.get("next");
      const target = next?.startsWith("/") && !next.startsWith("//") ? next : "/rooms";
      return redirect(target, [sessionCookie(token, config.jwtTtlSeconds, ctx.url)]);
    } catch (error) {
      const { errors, status, headers } = formError(error, ["username", "email", "password", "credentials"]);
      if (errors.credentials) errors.password = errors.credentials;
      return page({ intent, values, errors }, { status, headers });
    }
  },
});

export default function Home({ data }: PageProps<Data, State>) {
  const login = data.intent !== "signup" ? data : { errors: {}, values: {} as Record<string, string> };
  const signup = data.intent === "signup" ? data : { errors: {}, values: {} as Record<string, string> };
  return (
    <div class="auth">
      <section aria-labelledby="login-title" class="card">
        <h1 id="login-title">Log in</h1>
        {login.errors._form && <p class="error" role="alert">{login.errors._form}</p>}
        <form method="post" action="/" id="login-form" novalidate>
          <input type="hidden" name="intent" value="login" />
          <Field
            id="login-email"
            name="email"
            label="Email"
            type="email"
            autocomplete="email"
            value={login.values.email}
            error={login.errors.email}
            required
          />
          <Field
            id="login-password"
            name="password"
            label="Password"
            type="password"
            autocomplete="current-password"
            error={login.errors.password}
            required
          />
          <button type="submit">Log in</button>
        </form>
      </section>
      <section aria-labelledby="signup-title" class="card">
        <h2 id="signup-title">Create an account</h2>
        {signup.errors._form && <p class="error" role="alert">{signup.errors._form}</p>}
        <form method="post" action="/" id="signup-form" novalidate>
          <input type="hidden" name="intent" value="signup" />
          <Field
            id="signup-username"
            name="username"
            label="Username"
            autocomplete="username"
            value={signup.values.username}
            error={signup.errors.username}
            hint="3-32 letters, digits, '_', '.' or '-'"
            required
          />
          <Field
            id="signup-email"
            name="email"
            label="Email"
            type="email"
            autocomplete="email"
            value={signup.values.email}
            error={signup.errors.email}
            required
          />
          <Field
            id="signup-password"
            name="password"
            label="Password"
            type="password"
            autocomplete="new-password"
            error={signup.errors.password}
            hint="At least 8 characters"
            required
          />
          <button type="submit">Sign up</button>
        </form>
      </section>
    </div>
  );
}
