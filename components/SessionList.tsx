import type { Session } from "../lib/storage/store.ts";
import { PostButton } from "./PostButton.tsx";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const dates = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeZone: "UTC" });

/**
 * How long ago `iso` was, as people say it: "just now", "5 minutes ago", "3 hours ago", "yesterday",
 * "4 days ago"; a date ("Mar 3, 2026") from a week on.
 */
export function timeAgo(iso: string, now: number): string {
  const ms = Math.max(0, now - Date.parse(iso));
  if (ms < MINUTE) return "just now";
  if (ms < HOUR) return relative.format(-Math.floor(ms / MINUTE), "minute");
  if (ms < DAY) return relative.format(-Math.floor(ms / HOUR), "hour");
  if (ms < 7 * DAY) return relative.format(-Math.floor(ms / DAY), "day");
  return dateText(iso);
}

/** A date as "Mar 3, 2026" (UTC). */
export function dateText(iso: string): string {
  return dates.format(new Date(iso));
}

/**
 * The signed-in devices, the current one first and marked "This device", each with its address, when it was
 * last active and when it signed in; every other one has a "Log out" button (a form posting `end-session`).
 */
export function SessionList(
  props: { sessions: Session[]; currentId: string | undefined; now: number; action: string },
) {
  const current = props.sessions.filter((s) => s.id === props.currentId);
  const others = props.sessions.filter((s) => s.id !== props.currentId);
  return (
    <ul class="session-list">
      {[...current, ...others].map((session) => {
        const isCurrent = session.id === props.currentId;
        return (
          <li key={session.id} data-session-id={session.id} aria-current={isCurrent ? "true" : undefined}>
            <div class="session-about">
              <p class="session-device">
                {session.device}
                {isCurrent && <span class="tag tag-current">This device</span>}
              </p>
              <p class="session-details">
                <span>IP address {session.ip}</span>
                <span>
                  {isCurrent ? "Active now" : (
                    <>
                      Last active{" "}
                      <time datetime={session.last_used_at}>{timeAgo(session.last_used_at, props.now)}</time>
                    </>
                  )}
                </span>
                <span>
                  Signed in <time datetime={session.created_at}>{dateText(session.created_at)}</time>
                </span>
              </p>
            </div>
            {!isCurrent && (
              <PostButton
                action={props.action}
                fields={{ intent: "end-session", session_id: session.id }}
                label="Log out"
                ariaLabel={`Log out ${session.device}, IP address ${session.ip}`}
                class="secondary"
              />
            )}
          </li>
        );
      })}
    </ul>
  );
}
