/** The per-IP limit on register and login, shared by the API and the home page's forms. */
import type { MiddlewareHandler } from "hono";
import type { RateLimiter } from "../limits/rate_limit.ts";
import { ChatError } from "../errors.ts";
import { clientIp } from "./client_ip.ts";
import type { AppEnv } from "./env.ts";

/**
 * Takes one register/login attempt from `ip`'s budget; throws `too_many_requests` (429, with when to retry)
 * when it is spent.
 *
 * @example
 * await takeAuthAttempt(services.authLimiter, clientIpOf(ctx.req, ctx.info, config.trustProxy));
 */
export async function takeAuthAttempt(limiter: RateLimiter, ip: string): Promise<void> {
  const decision = await limiter.take(ip);
  if (!decision.ok) {
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new ChatError("too_many_requests", `Too many attempts; try again in ${seconds} s`, {
      retryAfterMs: decision.retryAfterMs,
    });
  }
}

/** `takeAuthAttempt` before every request it guards (the API's `/api/auth/*`). */
export function limitAuthAttempts(): MiddlewareHandler<AppEnv> {
  return async function limitAuthAttempts(c, next) {
    const { authLimiter, config } = c.var.services;
    await takeAuthAttempt(authLimiter, clientIp(c, config.trustProxy));
    await next();
  };
}
