import { PostButton } from "../components/PostButton.tsx";
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
        <link rel="stylesheet" href="/styles.css" />
        <link rel="stylesheet" href="/auth.css" />
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
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
        </header>
        <main id="main">
          <Component />
        </main>
      </body>
    </html>
  );
}
