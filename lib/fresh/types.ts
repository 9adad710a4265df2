/**
 * The public types of the Fresh-shaped web layer. It follows Fresh's conventions (file routes, `handler` +
 * default page component, `_app.tsx`, `_middleware.ts`, islands with serialised props) so that moving to real
 * Fresh later is mechanical; underneath, every file route is a route of one Hono app. It knows nothing about
 * chat.
 */
import type { ComponentType, JSX } from "preact";

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

/** What every handler and middleware receives. */
export interface Context<State> {
  req: Request;
  url: URL;
  /** Route parameters: `[id].tsx` gives `params.id`. */
  params: Record<string, string>;
  /**
   * Per-request state, shared along the middleware chain: the Hono request's variables (`c.var`), so Hono
   * middleware and pages see one state. Writing a property sets the variable.
   */
  state: State;
  /** The connection info from `Deno.serve`, when there is one. */
  info?: Deno.ServeHandlerInfo;
  /** In middleware: runs the rest of the chain. Calling it twice throws. */
  next(): Promise<Response>;
}

/** What a handler returns to have the route's page component rendered with `data`. */
export interface PageResponse<Data> {
  readonly __page: true;
  data: Data;
  status?: number;
  headers?: HeadersInit;
}

export type HandlerResult<Data> = Response | PageResponse<Data>;
export type HandlerFn<Data, State> = (
  ctx: Context<State>,
) => HandlerResult<Data> | Promise<HandlerResult<Data>>;
/** One function for every method, or one per method (GET also answers HEAD; others get 405 with `Allow`). */
export type Handlers<Data, State> = HandlerFn<Data, State> | Partial<Record<Method, HandlerFn<Data, State>>>;

/** The props of a route's page component. */
export interface PageProps<Data = undefined, State = unknown> {
  data: Data;
  params: Record<string, string>;
  url: URL;
  state: State;
}

/** The props of `_app.tsx`: `Component` renders the page. */
export interface AppProps<State = unknown> {
  Component: ComponentType;
  params: Record<string, string>;
  url: URL;
  state: State;
}

export type Middleware<State> = (ctx: Context<State>) => Response | Promise<Response>;

/** A route module: `routes/rooms/[id].tsx` exports `handler` and/or a default page component. */
export interface RouteModule<Data = unknown, State = unknown> {
  handler?: Handlers<Data, State>;
  default?: ComponentType<PageProps<Data, State>>;
}

/** A `_middleware.ts` module: applies to its folder and every folder below, outermost first. */
export interface MiddlewareModule<State = unknown> {
  handler: Middleware<State> | Middleware<State>[];
}

export type VNode = JSX.Element;

/** The optional second argument of `page()`. */
export interface PageInit {
  status?: number;
  headers?: HeadersInit;
}

/** Options of `createFresh()`. */
export interface FreshOptions {
  /** Absolute project directory holding `routes/`, `islands/` and `static/`. */
  root: string;
  /** Unminified island bundles. */
  dev?: boolean;
  /** A directory written by `buildIslands()`; when it holds a `manifest.json`, nothing is bundled at startup. */
  prebuiltDir?: string;
  /** Called when an error page itself fails to render (the client then gets a plain 500 page). */
  onError?: (error: unknown, req: Request) => void;
}

/** Options of `Fresh.fsRoutes()`. */
export interface FsRoutesOptions<State> {
  /** Values every page request's `state` starts with, where nothing earlier set them. */
  initialState?: () => Partial<State>;
}
