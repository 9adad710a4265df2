import assert from "node:assert/strict";
import { createDefine, type PageData } from "./define.ts";
import { page } from "./handlers.ts";
import type { PageProps } from "./types.ts";

interface State {
  user: string;
}
const define = createDefine<State>();

// Compile-time checks: `deno test` type-checks this file.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const handler = define.handlers({
  GET: (ctx) => page({ greeting: `Hello ${ctx.state.user}` }),
  POST: () => new Response(null, { status: 204 }),
});
const handlerFn = define.handlers((ctx) => Promise.resolve(page({ n: ctx.params.id.length })));
const typeChecks: [
  Equal<PageData<typeof handler>, { greeting: string }>,
  Equal<PageData<typeof handlerFn>, { n: number }>,
  Equal<PageData<{ rooms: string[] }>, { rooms: string[] }>,
  Equal<PageData<undefined>, undefined>,
  Equal<PageData<string>, string>,
] = [true, true, true, true, true];

Deno.test("createDefine() helpers return their argument unchanged", () => {
  assert.deepEqual(typeChecks, [true, true, true, true, true]);
  const Page = define.page<typeof handler>(({ data, state }) => `${data.greeting} / ${state.user}` as never);
  const middleware = define.middleware((ctx) => ctx.next());
  const list = define.middleware([middleware]);
  assert.equal(typeof Page, "function");
  assert.equal(define.handlers(handler), handler);
  assert.equal(list[0], middleware);
  const props: PageProps<{ greeting: string }, State> = {
    data: { greeting: "hi" },
    params: {},
    url: new URL("http://localhost/"),
    state: { user: "ada" },
  };
  assert.equal((Page as (p: typeof props) => unknown)(props), "hi / ada");
});

Deno.test("page() carries data, status and headers", () => {
  assert.deepEqual(page({ a: 1 }, { status: 201, headers: { "x-a": "1" } }), {
    __page: true,
    data: { a: 1 },
    status: 201,
    headers: { "x-a": "1" },
  });
  assert.equal(page().data, undefined);
});
