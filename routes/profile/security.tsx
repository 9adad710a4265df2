import { ErrorSummary } from "../../components/ErrorSummary.tsx";
import { Field } from "../../components/Field.tsx";
import { PostButton } from "../../components/PostButton.tsx";
import { SessionList } from "../../components/SessionList.tsx";
import { SECURITY_PATH, SettingsNav } from "../../components/SettingsNav.tsx";
import { ChatError } from "../../lib/errors.ts";
import { page, type PageProps } from "../../lib/fresh/mod.ts";
import { isId } from "../../lib/ids.ts";
import type { Identity } from "../../lib/hub/client.ts";
import type { Session } from "../../lib/storage/store.ts";
import { takeAuthAttempt } from "../../lib/web/auth_attempts.ts";
import { clientIpOf } from "../../lib/web/client_ip.ts";
import { formError, problemsOf } from "../../lib/web/form_errors.ts";
import { signedIn } from "../../lib/web/guard.ts";
import { clearedSessionCookies, define, isHttps, readForm, redirect, type State } from "../../utils.ts";

interface Data {
  sessions: Session[];
  currentId: string | undefined;
  /** False for an account made by single sign-on that never set a password. */
  hasPassword: boolean;
  twoFactor: { enabled: boolean; codesLeft: number };
  /** What the last form did (after its redirect). */
  status?: string;
  /** The refused form and its problems. */
  form?: "password" | "two-factor-off";
  errors: Record<string, string>;
  now: number;
}

/** Each form's fields, in order, with the id of their input (the error summary links to it). */
const PASSWORD_INPUTS = { current_password: "current-password", new_password: "new-password" };
const TWO_FACTOR_OFF_INPUTS = { password: "two-factor-off-password" };

/**
 * Password and security: where the account is signed in (log out one device, every other one, or all), the
 * password, and two-factor sign-in (set up on /profile/two-factor; turned off here). Every form works without
 * JavaScript: it posts, then comes back here with what it did, or shows its problems by their fields.
 */
export const handler = define.handlers<Data>({
  async GET(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    ctx.state.title = "Password and security";
    const data = await securityData(ctx.state, user);
    if (data instanceof Response) return data;
    return page({ ...data, status: statusOf(ctx.url.searchParams) }, { headers: NO_STORE });
  },

  async POST(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const { auth, authLimiter, config, sessions, store, twoFactor } = ctx.state.services;
    const { fields } = await readForm(ctx.req);
    const secure = isHttps(ctx.req, config.trustProxy);
    switch (fields.intent) {
      case "end-session": {
        const id = fields.session_id ?? "";
        const ended = isId(id) && await sessions.end(id, user.userId);
        if (id === user.sessionId) return redirect("/", clearedSessionCookies(secure));
        return redirect(`${SECURITY_PATH}?done=${ended ? "device" : "device-gone"}`);
      }
      case "end-others": {
        const ended = await sessions.endAll(user.userId, user.sessionId);
        return redirect(`${SECURITY_PATH}?done=others&n=${ended.length}`);
      }
      case "end-all":
        await sessions.endAll(user.userId);
        return redirect("/", clearedSessionCookies(secure));
    }
    const form = fields.intent === "two-factor-off" ? "two-factor-off" : "password";
    const inputs = form === "password" ? PASSWORD_INPUTS : TWO_FACTOR_OFF_INPUTS;
    try {
      if (fields.intent !== "password" && fields.intent !== "two-factor-off") {
        throw new ChatError("invalid_form", "This form cannot be sent here");
      }
      // Each of these forms checks a password: they take from the same per-address budget as the login form.
      await takeAuthAttempt(authLimiter, clientIpOf(ctx.req, ctx.info, config.trustProxy));
      const me = await store.users.byId(user.userId);
      if (me === null) throw new ChatError("user_not_found");
      if (form === "password") {
        const ended = await auth.changePassword(user, {
          current_password: fields.current_password ?? "",
          new_password: fields.new_password ?? "",
        });
        return redirect(
          `${SECURITY_PATH}?done=${me.password_hash === "" ? "password-set" : "password"}&n=${ended}`,
        );
      }
      await auth.checkPassword(me, fields.password ?? "");
      await twoFactor.disable(me);
      return redirect(`${SECURITY_PATH}?done=two-factor-off`);
    } catch (error) {
      const { errors, status, headers } = formError(error, Object.keys(inputs));
      const data = await securityData(ctx.state, user);
      if (data instanceof Response) return data;
      ctx.state.title = "Error: Password and security";
      return page({ ...data, form, errors }, { status, headers: { ...headers, ...NO_STORE } });
    }
  },
});

/** The page shows who is signed in where: not kept by caches (or the back button of a shared computer). */
const NO_STORE = { "cache-control": "no-store" };

/** What every state of the page shows: the devices, the password and two-factor sign-in. */
async function securityData(state: State, user: Identity): Promise<Data | Response> {
  const { sessions, store } = state.services;
  const me = await store.users.byId(user.userId);
  if (me === null) return new Response("Account not found", { status: 404 });
  return {
    sessions: await sessions.list(user.userId),
    currentId: user.sessionId,
    hasPassword: me.password_hash !== "",
    twoFactor: { enabled: me.totp_secret !== null, codesLeft: me.recovery_codes.length },
    errors: {},
    now: Date.now(),
  };
}

/** "2 other devices", "1 other device". */
function otherDevices(n: number): string {
  return n === 1 ? "1 other device" : `${n} other devices`;
}

/** What the form that came back here (`?done=`) did, in words; nothing for an unknown one. */
function statusOf(query: URLSearchParams): string | undefined {
  const n = Math.min(Math.max(0, Math.floor(Number(query.get("n")) || 0)), 1_000_000);
  const signedOut = n === 0
    ? "No other device was signed in."
    : `${otherDevices(n)} ${n === 1 ? "was" : "were"} signed out.`;
  switch (query.get("done")) {
    case "device":
      return "That device was signed out.";
    case "device-gone":
      return "That device was already signed out.";
    case "others":
      return n === 0 ? "No other device was signed in." : `Signed out of ${otherDevices(n)}.`;
    case "password":
      return `Your password was changed. ${signedOut}`;
    case "password-set":
      return `Your password was set: you can sign in with it as well. ${signedOut}`;
    case "two-factor-on":
      return "Two-factor authentication is on.";
    case "two-factor-off":
      return "Two-factor authentication is off.";
  }
}

export default function Security({ data }: PageProps<Data, State>) {
  const errorsOf = (form: Data["form"]) => data.form === form ? data.errors : {};
  const passwordErrors = errorsOf("password");
  const offErrors = errorsOf("two-factor-off");
  const others = data.sessions.filter((s) => s.id !== data.currentId).length;
  return (
    <div class="settings">
      <SettingsNav current={SECURITY_PATH} />
      <h1 id="security-title">Password and security</h1>
      {data.status && <p class="notice status-message" role="status" tabindex={-1} autofocus>{data.status}
      </p>}

      <section class="card" aria-labelledby="sessions-title">
        <h2 id="sessions-title">Where you're signed in</h2>
        <p class="muted">
          Each device signed in to your account. If you don't recognise one, log it out and change your
          password.
        </p>
        <SessionList
          sessions={data.sessions}
          currentId={data.currentId}
          now={data.now}
          action={SECURITY_PATH}
        />
        <div class="actions">
          {others > 0 && (
            <PostButton
              action={SECURITY_PATH}
              fields={{ intent: "end-others" }}
              label="Log out everywhere else"
              class="secondary"
            />
          )}
          <PostButton
            action={SECURITY_PATH}
            fields={{ intent: "end-all" }}
            label="Log out everywhere"
            class="secondary danger"
          />
        </div>
      </section>

      <section class="card" aria-labelledby="password-title">
        <h2 id="password-title">{data.hasPassword ? "Change password" : "Set a password"}</h2>
        {!data.hasPassword && (
          <p class="muted">You sign in with single sign-on. Set a password to sign in with it as well.</p>
        )}
        <ErrorSummary id="password-errors" problems={problemsOf(passwordErrors, PASSWORD_INPUTS)} />
        <form method="post" action={SECURITY_PATH} id="password-form" novalidate>
          <input type="hidden" name="intent" value="password" />
          {data.hasPassword && (
            <Field
              id={PASSWORD_INPUTS.current_password}
              name="current_password"
              label="Current password"
              type="password"
              autocomplete="current-password"
              error={passwordErrors.current_password}
              required
              summarised
            />
          )}
          <Field
            id={PASSWORD_INPUTS.new_password}
            name="new_password"
            label="New password"
            type="password"
            autocomplete="new-password"
            hint="At least 8 characters. Your other devices will be signed out."
            error={passwordErrors.new_password}
            required
            summarised
          />
          <button type="submit">{data.hasPassword ? "Change password" : "Set password"}</button>
        </form>
      </section>

      <section class="card" aria-labelledby="two-factor-title">
        <h2 id="two-factor-title">Two-factor authentication</h2>
        {data.twoFactor.enabled
          ? (
            <>
              <p>
                Two-factor authentication is{" "}
                <strong>on</strong>: signing in asks for a code from your authenticator app as well as your
                password.
              </p>
              <p class={data.twoFactor.codesLeft <= 3 ? "warning" : undefined}>
                {recoveryCodesText(data.twoFactor.codesLeft)}
              </p>
              <ErrorSummary
                id="two-factor-off-errors"
                problems={problemsOf(offErrors, TWO_FACTOR_OFF_INPUTS)}
              />
              <form method="post" action={SECURITY_PATH} id="two-factor-off-form" novalidate>
                <input type="hidden" name="intent" value="two-factor-off" />
                {data.hasPassword && (
                  <Field
                    id={TWO_FACTOR_OFF_INPUTS.password}
                    name="password"
                    label="Password"
                    type="password"
                    autocomplete="current-password"
                    hint="To turn two-factor authentication off, enter your password."
                    error={offErrors.password}
                    required
                    summarised
                  />
                )}
                <button type="submit" class="secondary danger">Turn off two-factor authentication</button>
              </form>
            </>
          )
          : (
            <>
              <p>
                Two-factor authentication is{" "}
                <strong>off</strong>. Turn it on to be asked for a code from an authenticator app on your
                phone as well as your password: someone who learns your password still cannot sign in.
              </p>
              <p>
                <a class="button" href="/profile/two-factor">Set up two-factor authentication</a>
              </p>
            </>
          )}
      </section>
    </div>
  );
}

/** "8 of your 10 recovery codes are left." */
function recoveryCodesText(left: number): string {
  if (left === 0) {
    return "You have used every recovery code. Turn two-factor authentication off and on again to get new ones.";
  }
  const codes = left === 1 ? "1 recovery code is" : `${left} recovery codes are`;
  const low = left <= 3 ? " Turn two-factor authentication off and on again to get new ones." : "";
  return `${codes} left, for when you cannot use your app.${low}`;
}
