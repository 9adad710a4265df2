import { ErrorSummary } from "../../components/ErrorSummary.tsx";
import { Field } from "../../components/Field.tsx";
import { SECURITY_PATH, SettingsNav } from "../../components/SettingsNav.tsx";
import type { TwoFactor, TwoFactorSetup } from "../../lib/auth/two_factor.ts";
import { ChatError } from "../../lib/errors.ts";
import { page, type PageProps } from "../../lib/fresh/mod.ts";
import type { User } from "../../lib/storage/store.ts";
import { takeAuthAttempt } from "../../lib/web/auth_attempts.ts";
import { clientIpOf } from "../../lib/web/client_ip.ts";
import { formError, problemsOf } from "../../lib/web/form_errors.ts";
import { signedIn } from "../../lib/web/guard.ts";
import { define, readForm, redirect, type State } from "../../utils.ts";

/** What the setup shows: the secret as a QR code and as text. */
type SetupView = Pick<TwoFactorSetup, "secret" | "secret_text" | "qr_svg">;

type Data =
  | {
    view: "setup";
    setup: SetupView;
    hasPassword: boolean;
    errors: Record<string, string>;
    /** The code typed into a refused form. */
    code?: string;
  }
  | { view: "codes"; codes: string[] };

/** The form's fields, in order, with the id of their input (the error summary links to it). */
const ENABLE_INPUTS = { code: "two-factor-code", password: "two-factor-password" };

/** Nothing here may be kept by a cache: the secret, and the recovery codes shown once. */
const NO_STORE = { "cache-control": "no-store" };

/**
 * Setting up two-factor sign-in: a new secret as a QR code and as text (nothing is stored yet), then a form
 * that turns it on with a code from the app and the password; it answers with the ten recovery codes, shown
 * this once. With two-factor sign-in already on, the security page.
 */
export const handler = define.handlers<Data>({
  async GET(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const me = await ctx.state.services.store.users.byId(user.userId);
    if (me === null) return new Response("Account not found", { status: 404 });
    if (me.totp_secret !== null) return redirect(SECURITY_PATH, [], 302);
    ctx.state.title = "Set up two-factor authentication";
    const { secret, secret_text, qr_svg } = ctx.state.services.twoFactor.setup(me);
    return page(
      {
        view: "setup",
        setup: { secret, secret_text, qr_svg },
        hasPassword: me.password_hash !== "",
        errors: {},
      },
      { headers: NO_STORE },
    );
  },

  async POST(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const { auth, authLimiter, config, store, twoFactor } = ctx.state.services;
    const { fields } = await readForm(ctx.req);
    const me = await store.users.byId(user.userId);
    if (me === null) return new Response("Account not found", { status: 404 });
    if (me.totp_secret !== null) return redirect(`${SECURITY_PATH}?done=two-factor-on`);
    const code = (fields.code ?? "").trim();
    try {
      await takeAuthAttempt(authLimiter, clientIpOf(ctx.req, ctx.info, config.trustProxy));
      const problems: Record<string, string> = {};
      if (code === "") problems.code = "Enter the 6-digit code your authenticator app shows";
      try {
        await auth.checkPassword(me, fields.password ?? "");
      } catch (error) {
        Object.assign(problems, formError(error, Object.keys(ENABLE_INPUTS)).errors);
      }
      if (Object.keys(problems).length > 0) {
        throw new ChatError("invalid_form", Object.values(problems)[0], { fields: problems });
      }
      const codes = await twoFactor.enable(me, fields.secret, code);
      ctx.state.title = "Save your recovery codes";
      return page({ view: "codes", codes }, { headers: NO_STORE });
    } catch (error) {
      const { errors, status, headers } = formError(error, [
        ...Object.keys(ENABLE_INPUTS),
        "two_factor_code",
      ]);
      if (errors.two_factor_code) errors.code = errors.two_factor_code;
      delete errors.two_factor_code;
      ctx.state.title = "Error: Set up two-factor authentication";
      return page({
        view: "setup",
        setup: setupOf(me, fields.secret, twoFactor),
        hasPassword: me.password_hash !== "",
        errors,
        code,
      }, { status, headers: { ...headers, ...NO_STORE } });
    }
  },
});

/**
 * The setup a refused form came from, shown again (the app may have scanned it already); a new one when the
 * form's secret is not one this server makes.
 */
function setupOf(me: User, secret: string | undefined, twoFactor: TwoFactor): SetupView {
  return twoFactor.setup(me, secret !== undefined && /^[A-Z2-7]{16,64}$/.test(secret) ? secret : undefined);
}

export default function TwoFactorPage({ data }: PageProps<Data, State>) {
  return (
    <div class="settings">
      <SettingsNav current={SECURITY_PATH} />
      {data.view === "codes" ? <RecoveryCodes codes={data.codes} /> : <Setup data={data} />}
    </div>
  );
}

function Setup({ data }: { data: Data & { view: "setup" } }) {
  return (
    <section class="card two-factor-setup" aria-labelledby="setup-title">
      <h1 id="setup-title">Set up two-factor authentication</h1>
      <p>
        Once it is on, signing in asks for your password and a 6-digit code from an authenticator app on your
        phone (such as Aegis, Google Authenticator, Microsoft Authenticator or 1Password).
      </p>
      <ErrorSummary id="setup-errors" problems={problemsOf(data.errors, ENABLE_INPUTS)} />
      <ol class="steps">
        <li>
          <h2 id="scan-title">Scan the QR code with your app</h2>
          <figure class="qr">
            {/* Made on the server from the secret (lib/auth/totp.ts): no script, no outside reference. */}
            <div class="qr-image" dangerouslySetInnerHTML={{ __html: data.setup.qr_svg }} />
            <figcaption>
              In the app, add an account and scan this code. It adds your chat account to the app.
            </figcaption>
          </figure>
          <p>Cannot scan it? Enter this setup key in the app instead:</p>
          <p>
            <code class="secret" id="setup-key">{data.setup.secret_text}</code>
          </p>
        </li>
        <li>
          <h2 id="confirm-title">Enter the code the app shows</h2>
          <form method="post" action="/profile/two-factor" id="two-factor-form" novalidate>
            <input type="hidden" name="secret" value={data.setup.secret} />
            <Field
              id={ENABLE_INPUTS.code}
              name="code"
              label="6-digit code"
              autocomplete="one-time-code"
              hint="The app shows a new code every 30 seconds"
              value={data.code}
              error={data.errors.code}
              required
              summarised
            />
            {data.hasPassword && (
              <Field
                id={ENABLE_INPUTS.password}
                name="password"
                label="Your password"
                type="password"
                autocomplete="current-password"
                error={data.errors.password}
                required
                summarised
              />
            )}
            <button type="submit">Turn on two-factor authentication</button>
          </form>
        </li>
      </ol>
      <p>
        <a href={SECURITY_PATH}>Cancel</a>
      </p>
    </section>
  );
}

function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <section class="card recovery" aria-labelledby="codes-title">
      <h1 id="codes-title">Save your recovery codes</h1>
      <p class="notice status-message" role="status" tabindex={-1} autofocus>
        Two-factor authentication is on.
      </p>
      <p>
        If you lose your phone, sign in with one of these codes in place of the app's code. Each code works
        once.
      </p>
      <p class="warning">
        <strong>Store them now</strong>{" "}
        somewhere safe, such as your password manager or a printed copy: this is the only time they are shown.
      </p>
      <ol class="recovery-codes" aria-label="Recovery codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ol>
      <p>
        <a class="button" href={`${SECURITY_PATH}?done=two-factor-on`}>I have stored my recovery codes</a>
      </p>
    </section>
  );
}
