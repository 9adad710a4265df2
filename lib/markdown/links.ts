/** Which link targets a message may carry: only http, https and mailto URLs ever become an `href`. */

const ALLOWED_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** The normalised URL to link to, or null for anything else (relative, `javascript:`, `data:`, unparsable). */
export function safeHref(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  return ALLOWED_PROTOCOLS.has(parsed.protocol) ? parsed.href : null;
}

/** What every link in a message carries besides its `href`: a new tab that cannot reach back into the app. */
export const LINK_PROPS = { target: "_blank", rel: "noopener noreferrer nofollow ugc" } as const;
