import type { Identity } from "../hub/client.ts";

/** The signed-in user, or a redirect to the home page that comes back here after logging in. */
export function signedIn(state: { user: Identity | null }, url: URL): Identity | Response {
  if (state.user) return state.user;
  const next = encodeURIComponent(url.pathname + url.search);
  return new Response(null, { status: 302, headers: { location: `/?next=${next}` } });
}
