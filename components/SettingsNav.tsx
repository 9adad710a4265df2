/** The password and security page (routes/profile/security.tsx). */
export const SECURITY_PATH = "/profile/security";

/** The account settings' pages, in order: their path and link text. */
const SETTINGS_PAGES = [
  { path: "/profile", label: "Profile" },
  { path: SECURITY_PATH, label: "Password and security" },
];

/**
 * The links between the account settings' pages (profile; password and security), the current one marked
 * with `aria-current="page"`.
 */
export function SettingsNav(props: { current: string }) {
  return (
    <nav class="settings-nav" aria-label="Account settings">
      <ul>
        {SETTINGS_PAGES.map(({ path, label }) => (
          <li key={path}>
            <a href={path} aria-current={path === props.current ? "page" : undefined}>{label}</a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
