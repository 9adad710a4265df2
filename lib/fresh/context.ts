/**
 * Fresh's request context (`ctx`) over Hono's (`c`): route handlers and `_middleware.ts` keep Fresh's shape
 * while every request runs through one Hono app. `ctx.state` is a live view of `c.var`, so what Hono middleware
 * sets (`c.set("user", …)`) a page reads as `ctx.state.user`, and `ctx.state.title = …` sets `c.var.title`.
 */
import type { Context as HonoContext, MiddlewareHandler } from "hono";
import type { Context, Middleware } from "./types.ts";

const contexts = new WeakMap<HonoContext, Context<unknown>>();

const outsideChain = () => Promise.reject(new Error("next() called outside of a middleware chain"));

/** The one Fresh context of a Hono request; `next` is set by whichever step runs. */
export function contextOf<State>(c: HonoContext): Context<State> {
  let ctx = contexts.get(c);
  if (ctx === undefined) {
    ctx = {
      req: c.req.raw,
      url: new URL(c.req.url),
      params: c.req.param() as Record<string, string>,
      state: stateOf(c),
      info: c.env as Deno.ServeHandlerInfo | undefined,
      next: outsideChain,
    };
    contexts.set(c, ctx);
  }
  return ctx as Context<State>;
}

/** `c.var` as a writable object. */
function stateOf(c: HonoContext): unknown {
  const get = (key: string | symbol) => typeof key === "string" ? c.get(key as never) : undefined;
  return new Proxy({}, {
    get: (_target, key) => get(key),
    set(_target, key, value) {
      if (typeof key !== "string") return false;
      c.set(key as never, value as never);
      return true;
    },
    has: (_target, key) => get(key) !== undefined,
    ownKeys: () => Object.keys(c.var),
    getOwnPropertyDescriptor: (_target, key) =>
      get(key) === undefined
        ? undefined
        : { value: get(key), writable: true, enumerable: true, configurable: true },
  });
}

/**
 * A Fresh middleware as a Hono middleware: `ctx.next()` runs the rest of the chain and resolves with its
 * response; whatever the middleware returns is the response (calling `next()` twice throws).
 */
export function honoMiddleware<State>(middleware: Middleware<State>): MiddlewareHandler {
  return async (c, next) => {
    const ctx = contextOf<State>(c);
    const outer = ctx.next;
    // Rebound by the steps inside; restored when they return, so a second call reaches Hono's guard.
    const own = async () => {
      try {
        await next();
        return c.res;
      } finally {
        ctx.next = own;
      }
    };
    ctx.next = own;
    const response = await middleware(ctx);
    ctx.next = outer;
    if (c.finalized && response !== c.res) {
      // Replace, rather than merge into, the response the rest of the chain made.
      c.res = undefined;
      c.res = response;
    }
    return response;
  };
}

/** The last step of a chain: a handler that answers and never calls `next()`. */
export function honoHandler<State>(
  handler: (ctx: Context<State>) => Response | Promise<Response>,
): (c: HonoContext) => Promise<Response> {
  return async (c) => {
    const ctx = contextOf<State>(c);
    ctx.next = () => Promise.reject(new Error("next() called by the last handler of the chain"));
    return await handler(ctx);
  };
}
