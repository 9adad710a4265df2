import type { ComponentType } from "preact";
import type {
  Context,
  HandlerFn,
  Method,
  Middleware,
  PageInit,
  PageProps,
  PageResponse,
  RouteModule,
} from "./types.ts";

/**
 * Asks for the route's page component to be rendered with `data`.
 *
 * ```ts
 * export const handler = { GET: () => page({ rooms }, { headers: { "cache-control": "no-store" } }) };
 * ```
 */
export function page<Data = undefined>(data?: Data, init: PageInit = {}): PageResponse<Data> {
  return { __page: true, data: data as Data, status: init.status, headers: init.headers };
}

export function isPageResponse(value: unknown): value is PageResponse<unknown> {
  return typeof value === "object" && value !== null && (value as { __page?: unknown }).__page === true;
}

export type RenderPage<State> = (
  component: ComponentType<PageProps<unknown, State>>,
  result: PageResponse<unknown>,
  ctx: Context<State>,
) => Response;

const renderWithoutData = () => page();

/** The handler for `method`, or the methods the route allows. GET answers HEAD too. */
export function selectHandler<State>(
  module: RouteModule<unknown, State>,
  method: string,
): HandlerFn<unknown, State> | { allow: string[] } {
  const { handler } = module;
  if (typeof handler === "function") return handler;
  const byMethod: Partial<Record<string, HandlerFn<unknown, State>>> = { ...handler };
  if (!byMethod.GET && module.default) byMethod.GET = renderWithoutData;
  if (!byMethod.HEAD && byMethod.GET) byMethod.HEAD = byMethod.GET;
  return byMethod[method] ?? { allow: Object.keys(byMethod).filter((m) => byMethod[m as Method]).sort() };
}

/** The last step of a route's chain: runs its handler and renders `page()` results with `render`. */
export function routeHandler<State>(
  route: { file: string; module: RouteModule<unknown, State> },
  render: RenderPage<State>,
): Middleware<State> {
  return async (ctx) => {
    const handler = selectHandler(route.module, ctx.req.method);
    if ("allow" in handler) {
      return new Response("Method Not Allowed", {
        status: 405,
        headers: { allow: handler.allow.join(", "), "content-type": "text/plain; charset=utf-8" },
      });
    }
    const result = await handler(ctx);
    if (result instanceof Response) return result;
    if (!isPageResponse(result)) {
      throw new TypeError(`The handler of ${route.file} must return a Response or page(data)`);
    }
    if (!route.module.default) {
      throw new Error(
        `The handler of ${route.file} returned page(data), but the file has no default component`,
      );
    }
    return render(route.module.default, result, ctx);
  };
}
