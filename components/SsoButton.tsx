import { START_PATH } from "../lib/auth/sso.ts";

/**
 * "Sign in with <provider>" under the login form: a link (a plain navigation, so it works without
 * JavaScript) to the single sign-on start, keeping the page to come back to (`next`).
 */
export function SsoButton(props: { name: string; next?: string | null }) {
  const href = props.next ? `${START_PATH}?next=${encodeURIComponent(props.next)}` : START_PATH;
  return (
    <div class="sso">
      <p class="sso-or">or</p>
      <a class="sso-button" href={href} id="sso-button">Sign in with {props.name}</a>
    </div>
  );
}
