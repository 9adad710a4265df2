/**
 * What islands may import of this layer (it runs on both sides): whether the code runs in the browser, as
 * Fresh's `IS_BROWSER`. Server rendering and hydration render the same markup; after hydration an island may
 * use what only the browser knows (its time zone, `Date.now()`).
 */
export const IS_BROWSER = typeof document !== "undefined";
