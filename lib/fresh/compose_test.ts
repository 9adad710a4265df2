import assert from "node:assert/strict";
import { compose } from "./compose.ts";
import type { Context, Middleware } from "./types.ts";

function contextOf<State>(state: State): Context<State> {
  return {
    req: new Request("http://localhost/"),
    url: new URL("http://localhost/"),
    params: {},
    state,
    next: () => Promise.reject(new Error("unbound")),
  };
}

Deno.test("compose() runs steps in order and returns through them in reverse", async () => {
  const log: string[] = [];
  const step = (name: string): Middleware<unknown> => async (ctx) => {
    log.push(`${name} in`);
    const response = await ctx.next();
    log.push(`${name} out`);
    return response;
  };
  const response = await compose([step("a"), step("b"), () => {
    log.push("handler");
    return new Response("ok");
  }])(contextOf({}));
  assert.equal(await response.text(), "ok");
  assert.deepEqual(log, ["a in", "b in", "handler", "b out", "a out"]);
});

Deno.test("compose() shares one state and lets a step answer without calling next()", async () => {
  const run = compose<{ user?: string }>([
    (ctx) => {
      ctx.state.user = "ada";
      return ctx.next();
    },
    (ctx) => ctx.state.user === "ada" ? new Response("short-circuit", { status: 401 }) : ctx.next(),
    () => {
      throw new Error("not reached");
    },
  ]);
  const response = await run(contextOf({}));
  assert.equal(response.status, 401);
});

Deno.test("compose() throws when a step calls next() twice", async () => {
  const run = compose([
    async (ctx) => {
      await ctx.next();
      return await ctx.next();
    },
    () => new Response("ok"),
  ]);
  await assert.rejects(run(contextOf({})), { message: "next() called multiple times" });
});

Deno.test("compose() throws when the last step calls next()", async () => {
  await assert.rejects(compose([(ctx) => ctx.next()])(contextOf({})), /last handler/);
});

Deno.test("compose() turns a synchronous throw into a rejection", async () => {
  const run = compose([() => {
    throw new Error("boom");
  }]);
  await assert.rejects(run(contextOf({})), { message: "boom" });
});
