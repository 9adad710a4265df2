/**
 * How a room's messages are laid out, as plain data a view maps to elements: a day separator where the date
 * changes, the "new messages" line before the first unread message of someone else, and each message marked
 * as the start of a group or a continuation (same author, same day, a few minutes apart). Dates and times are
 * formatted in one given time zone, so the server's render and the browser's first render agree.
 */
import type { ChatMessage } from "../../lib/hub/protocol.ts";

/** Messages of one author this close together share one avatar and name. */
export const GROUP_MS = 5 * 60_000;

/** The zone of the runtime itself (the browser's). */
export const LOCAL = "local";

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const two = (n: number) => String(n).padStart(2, "0");

export type TimelineItem =
  | { kind: "day"; key: string; label: string }
  | { kind: "unread"; key: string }
  | { kind: "message"; key: string; message: ChatMessage; continued: boolean };

export interface TimelineOptions {
  /** An IANA time zone (the server: the browser's from its cookie, else UTC), or `LOCAL`. */
  timeZone: string;
  /** Now, for "Today" and "Yesterday". */
  now: number;
  /** The user's read marker when the room was opened: the unread line goes before the first later message. */
  readSeq: number | null;
  meId: string;
}

export function timeline(messages: readonly ChatMessage[], options: TimelineOptions): TimelineItem[] {
  const items: TimelineItem[] = [];
  const dayOf = dayFormatter(options.timeZone);
  const today = dayOf(options.now);
  const yesterday = dayOf(options.now - 86_400_000);
  let previous: ChatMessage | undefined;
  let previousDay = "";
  let unreadShown = false;
  // What the user wrote themselves they have read, and everything before it.
  let readSeq = options.readSeq;
  if (readSeq !== null) {
    for (const m of messages) if (m.user_id === options.meId && m.seq > readSeq) readSeq = m.seq;
  }
  for (const message of messages) {
    const at = Date.parse(message.timestamp);
    const day = dayOf(at);
    let continued = previous !== undefined && groupable(previous, message, at);
    if (day !== previousDay) {
      const label = day === today
        ? "Today"
        : day === yesterday
        ? "Yesterday"
        : longDate(at, options.timeZone);
      items.push({ kind: "day", key: `day-${day}`, label });
      previousDay = day;
      continued = false;
    }
    if (
      !unreadShown && readSeq !== null && message.seq > readSeq && message.user_id !== options.meId
    ) {
      items.push({ kind: "unread", key: "unread" });
      unreadShown = true;
      continued = false;
    }
    items.push({ kind: "message", key: String(message.seq), message, continued });
    previous = message;
  }
  return items;
}

function groupable(previous: ChatMessage, message: ChatMessage, at: number): boolean {
  return previous.type !== "system" && message.type !== "system" && previous.user_id === message.user_id &&
    at - Date.parse(previous.timestamp) < GROUP_MS;
}

interface Formats {
  day: Intl.DateTimeFormat;
  long: Intl.DateTimeFormat;
  short: Intl.DateTimeFormat;
  seconds: Intl.DateTimeFormat;
}

/** Formatters are costly to make: one set per zone. */
const formats = new Map<string, Formats>();

function formatsOf(timeZone: string): Formats {
  let f = formats.get(timeZone);
  if (!f) {
    f = {
      day: new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }),
      long: new Intl.DateTimeFormat("en-US", {
        timeZone,
        weekday: "long",
        month: "long",
        day: "numeric",
        year: "numeric",
      }),
      short: new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit" }),
      seconds: new Intl.DateTimeFormat("en-GB", {
        timeZone,
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      }),
    };
    formats.set(timeZone, f);
  }
  return f;
}

/** A day's identity in the zone, e.g. `2026-12-06`. */
function dayFormatter(timeZone: string): (at: number) => string {
  if (timeZone === LOCAL) {
    return (at) => {
      const d = new Date(at);
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
    };
  }
  const { day } = formatsOf(timeZone);
  return (at) => day.format(at);
}

/** `Sunday, December 6, 2026`. */
export function longDate(at: number, timeZone: string): string {
  if (timeZone !== LOCAL) return formatsOf(timeZone).long.format(at);
  const d = new Date(at);
  return `${WEEKDAYS[d.getDay()]}, ${MONTHS[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()}`;
}

/** `14:05`. */
export function shortTime(iso: string, timeZone: string): string {
  if (timeZone !== LOCAL) return formatsOf(timeZone).short.format(Date.parse(iso));
  const d = new Date(iso);
  return `${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** `Sunday, December 6, 2026 at 14:05:09` (the tooltip). */
export function fullTime(iso: string, timeZone: string): string {
  const at = Date.parse(iso);
  if (timeZone !== LOCAL) return `${longDate(at, timeZone)} at ${formatsOf(timeZone).seconds.format(at)}`;
  const d = new Date(at);
  return `${longDate(at, timeZone)} at ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A time zone name this runtime knows, else UTC (for a zone a browser sent). */
export function knownTimeZone(name: string | undefined): string {
  if (!name || name.length > 64) return "UTC";
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return name;
  } catch {
    return "UTC";
  }
}
