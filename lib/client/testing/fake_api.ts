/**
 * The REST API for chat client tests: a `fetch` that answers from the test's handler and records every request
 * as `"METHOD /path?query"`.
 *
 * @example
 * const api = new FakeApi((request) => request === "GET /api/rooms/r1/members" ? { members: [] } : undefined);
 * const client = new ChatClient({ me, fetch: api.fetch, ... });
 */

/**
 * Answers one request (`"GET /api/rooms/r1/messages?after_seq=3&limit=100"`) with a JSON body, or a whole
 * `Response` (another status); undefined: 404.
 */
export type ApiHandler = (request: string, body: unknown) => unknown;

export class FakeApi {
  /** Every request, in order. */
  readonly requests: string[] = [];

  constructor(readonly handler: ApiHandler = () => undefined) {}

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input), "http://test");
    const request = `${init?.method ?? "GET"} ${url.pathname}${url.search}`;
    this.requests.push(request);
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    const answer = await this.handler(request, body);
    if (answer instanceof Response) return answer;
    return answer === undefined ? new Response(null, { status: 404 }) : Response.json(answer);
  };
}
