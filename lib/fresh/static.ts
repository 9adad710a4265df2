/**
 * Files of `<root>/static/` served at the same paths (`static/styles.css` -> `/styles.css`), with an ETag and
 * `cache-control: no-cache` (revalidate every time, 304 when unchanged). Directories are not listed; paths with
 * `..`, backslashes or NUL, and anything resolving outside the folder (symlinks included), are not served.
 */
import { extname, join, resolve, sep } from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

/** A handler for `dir` that answers GET/HEAD for its files and `undefined` for everything else. */
export function staticFiles(dir: string): (req: Request, url: URL) => Promise<Response | undefined> {
  const base = resolve(dir);

  return async (req, url) => {
    if (req.method !== "GET" && req.method !== "HEAD") return undefined;
    const path = safePath(base, url.pathname);
    if (path === undefined) return undefined;
    const root = await Deno.realPath(base).catch(() => undefined);
    let contents: Uint8Array;
    try {
      const real = await Deno.realPath(path);
      if (root === undefined || !real.startsWith(root + sep) || !(await Deno.stat(real)).isFile) {
        return undefined;
      }
      contents = await Deno.readFile(real);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return undefined;
      }
      throw error;
    }
    const headers = new Headers({
      "content-type": CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream",
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      etag: await etagOf(contents),
    });
    if (matchesEtag(req.headers.get("if-none-match"), headers.get("etag")!)) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(req.method === "HEAD" ? null : contents as Uint8Array<ArrayBuffer>, { headers });
  };
}

/** The file path for a URL path, or `undefined` when the path is malformed or tries to leave `base`. */
function safePath(base: string, pathname: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  const parts = decoded.split("/").slice(1);
  if (parts.some((part) => part === ".." || part === "." || part.includes("\\") || part.includes("\0"))) {
    return undefined;
  }
  if (parts.length === 0 || parts.at(-1) === "") return undefined;
  const path = join(base, ...parts);
  return path.startsWith(base + sep) ? path : undefined;
}

async function etagOf(contents: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", contents as Uint8Array<ArrayBuffer>));
  return `"${Array.from(digest.slice(0, 16), (byte) => byte.toString(16).padStart(2, "0")).join("")}"`;
}

function matchesEtag(header: string | null, etag: string): boolean {
  if (header === null) return false;
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}
