/** Page rendering: `_app` (or a minimal document) around the page, and islands. Headers: `headers.ts`. */
import type { ComponentType } from "preact";
import { renderToString } from "preact-render-to-string";
import { collectIslands, type IslandRegistry } from "./island.tsx";
import type { AppProps, PageProps } from "./types.ts";

function DefaultApp({ Component }: AppProps) {
  return (
    <html>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
      </head>
      <body>
        <Component />
      </body>
    </html>
  );
}

export interface RenderOptions<State> {
  app?: ComponentType<AppProps<State>>;
  // deno-lint-ignore no-explicit-any
  component: ComponentType<PageProps<any, State>>;
  props: PageProps<unknown, State>;
  islands: IslandRegistry;
  /** The URL of the client runtime, added once when the page has an island. */
  clientSrc: string;
}

/** The HTML of a page: `<!DOCTYPE html>`, then `_app` with `Component` bound to the page and its props. */
export function renderDocument<State>(options: RenderOptions<State>): string {
  const { component: Page, props } = options;
  const App = (options.app ?? DefaultApp) as ComponentType<AppProps<State>>;
  const Component = () => <Page {...props} />;
  const { result, islands } = collectIslands(
    options.islands,
    () =>
      renderToString(<App Component={Component} params={props.params} url={props.url} state={props.state} />),
  );
  const html = "<!DOCTYPE html>" + result;
  if (islands === 0) return html;
  const script = `<script type="module" src="${options.clientSrc}"></script>`;
  const end = html.lastIndexOf("</body>");
  return end === -1 ? html + script : html.slice(0, end) + script + html.slice(end);
}

/**
 * An HTML response; `headers` may override its content type. The security headers are added by
 * `pageHeaders()`, which leaves any that `headers` set.
 */
export function htmlResponse(html: string, init: { status?: number; headers?: HeadersInit } = {}): Response {
  const headers = new Headers({ "content-type": "text/html; charset=utf-8" });
  const extra = new Headers(init.headers);
  for (const name of extra.keys()) headers.delete(name);
  for (const [name, value] of extra) headers.append(name, value);
  return new Response(html, { status: init.status ?? 200, headers });
}
