/** What unmatched paths and failures render when the project has no `_404.tsx` / `_500.tsx`. */

export function DefaultNotFound() {
  return <h1>404 Not Found</h1>;
}

/** Never shows the error: `data` stays on the server. */
export function DefaultServerError() {
  return <h1>500 Internal Server Error</h1>;
}

/** The last resort, when even the error page (or `_app`) throws. */
export const PLAIN_SERVER_ERROR =
  '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Error</title></head>' +
  "<body><h1>500 Internal Server Error</h1></body></html>";
