import type { ComponentType } from "preact";
import type { Handlers, Method, Middleware, PageProps, PageResponse } from "./types.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (ctx: any) => unknown;
type DataOfResult<R> = Awaited<R> extends infer A ? A extends PageResponse<infer D> ? D : never : never;
type IsHandlers<T> = T extends AnyFn ? true
  : [keyof T] extends [never] ? false
  : keyof T extends Method ? T[keyof T] extends AnyFn | undefined ? true : false
  : false;

/**
 * The page data of `T`: `T` itself, or, when `T` is a handler (`typeof handler`), the data it passes to `page()`.
 */
export type PageData<T> = IsHandlers<T> extends true ? T extends AnyFn ? DataOfResult<ReturnType<T>>
  : { [K in keyof T]: T[K] extends AnyFn ? DataOfResult<ReturnType<T[K]>> : never }[keyof T]
  : T;

export interface Define<State> {
  handlers<Data, H extends Handlers<Data, State> = Handlers<Data, State>>(handlers: H): H;
  page<Data = undefined>(
    component: ComponentType<PageProps<PageData<Data>, State>>,
  ): ComponentType<PageProps<PageData<Data>, State>>;
  middleware<M extends Middleware<State> | Middleware<State>[]>(middleware: M): M;
}

/**
 * Identity helpers that carry the app's `State` type into routes and middleware.
 *
 * ```ts
 * export const define = createDefine<{ user?: string }>();
 * export const handler = define.handlers({ GET: (ctx) => page({ name: ctx.state.user ?? "guest" }) });
 * export default define.page<typeof handler>(({ data }) => <p>Hello {data.name}</p>);
 * ```
 */
export function createDefine<State>(): Define<State> {
  return {
    handlers: (handlers) => handlers,
    page: (component) => component,
    middleware: (middleware) => middleware,
  };
}
