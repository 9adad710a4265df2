import type { Context, Middleware } from "./types.ts";

/**
 * Runs `chain` in order: each step calls `ctx.next()` to run the rest and gets its response back.
 * One context (and so one `state`) travels the whole chain; `ctx.next` is rebound for each step and restored
 * when the rest of the chain returns. Calling `next()` twice in one step, or in the last step, throws.
 */
export function compose<State>(chain: Middleware<State>[]): (ctx: Context<State>) => Promise<Response> {
  return (ctx) => {
    let index = -1;
    function dispatch(i: number): Promise<Response> {
      if (i <= index) return Promise.reject(new Error("next() called multiple times"));
      index = i;
      const step = chain[i];
      if (step === undefined) {
        return Promise.reject(new Error("next() called by the last handler of the chain"));
      }
      const next = async () => {
        try {
          return await dispatch(i + 1);
        } finally {
          ctx.next = next;
        }
      };
      ctx.next = next;
      return Promise.resolve().then(() => step(ctx));
    }
    return dispatch(0);
  };
}
