/**
 * An error that becomes an HTTP response `{"error":{"code","message"}}` with `status`. Thrown anywhere below a
 * route handler; one top-level handler maps it (and logs only 5xx).
 *
 * @example
 * throw new HttpError(404, "room_not_found", "Room not found");
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** The JSON body every error response carries. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export function errorResponse(
  status: number,
  code: string,
  message: string,
  headers?: HeadersInit,
): Response {
  return Response.json(errorBody(code, message), { status, headers });
}
