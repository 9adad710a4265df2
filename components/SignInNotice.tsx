import { noticeSentence, type SignInNoticeCounts } from "../lib/web/sign_in_notice.ts";

/**
 * The banner after a sign-in that followed failed attempts: how many, whether they locked the account, and a
 * link to change the password. A status message: read out without taking the focus.
 */
export function SignInNotice(props: { notice: SignInNoticeCounts }) {
  return (
    <div class="banner sign-in-notice" role="status">
      <p>
        {noticeSentence(props.notice)} If this wasn't you,{" "}
        <a href="/profile/security#password-title">change your password</a>.
      </p>
    </div>
  );
}
