import { PostButton } from "../components/PostButton.tsx";
import { SignInNotice } from "../components/SignInNotice.tsx";
import type { AppProps } from "../lib/fresh/mod.ts";
import type { State } from "../utils.ts";

export default function App({ Component, state }: AppProps<State>) {
  const title = state.title ? `${state.title} · Chat` : "Chat";
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <script src="/theme.js"></script>
        <script src="/app.js" defer></script>
        <link rel="stylesheet" href="/styles.css" />
        <link rel="stylesheet" href="/markdown.css" />
        <link rel="stylesheet" href="/auth.css" />
        <noscript>
          <link rel="stylesheet" href="/noscript.css" />
        </noscript>
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
        <link rel="manifest" href="/manifest.webmanifest" />
        <link rel="apple-touch-icon" href="/icons/icon-192.png" />
        <meta name="theme-color" content="#2456c9" media="(prefers-color-scheme: light)" />
        <meta name="theme-color" content="#1f2d4d" media="(prefers-color-scheme: dark)" />
      </head>
      <body>
        <a class="skip-link" href="#main">Skip to content</a>
        <header class="topbar">
          <a class="brand" href={state.user ? "/rooms" : "/"}>Chat</a>
          {state.user && (
            <nav aria-label="Main">
              <a href="/rooms">Rooms</a>
              <a href="/profile">Profile</a>
              <PostButton action="/logout" fields={{}} label="Log out" class="link" />
            </nav>
          )}
          <button type="button" id="theme-toggle" class="link" aria-pressed="false" hidden>Dark mode</button>
        </header>
        <main id="main">
          {state.user && state.signInNotice && <SignInNotice notice={state.signInNotice} />}
          <Component />
        </main>
      </body>
    </html>
  );
}
