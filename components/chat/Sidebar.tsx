/**
 * The rooms and direct conversations of the user, each with its unread count, the open one marked as the
 * current page. Plain links (they work without JavaScript); `onOpen` may take a click over to switch in place.
 */
import type { JSX } from "preact";
import type { SidebarRoom } from "../../lib/client/mod.ts";
import { roomLabel } from "./titles.ts";

export interface SidebarProps {
  rows: readonly SidebarRoom[];
  currentId: string | null;
  meUsername: string;
  /** A plain left click on a room: return true to handle it in the page (no navigation). */
  onOpen?: (roomId: string) => boolean;
  /** The "+" of rooms and of direct messages: open their dialogs (without them, the links go to the forms). */
  onNewRoom?: () => void;
  onNewDirect?: () => void;
}

export function Sidebar({ rows, currentId, meUsername, onOpen, onNewRoom, onNewDirect }: SidebarProps) {
  const rooms = rows.filter((r) => !r.is_direct);
  const direct = rows.filter((r) => r.is_direct);
  const link = (room: SidebarRoom) => {
    const current = room.id === currentId;
    const unread = current ? 0 : room.unread;
    return (
      <li key={room.id}>
        <a
          href={`/rooms/${room.id}`}
          data-room-id={room.id}
          class={`${current ? "current" : ""}${unread > 0 ? " has-unread" : ""}`}
          aria-current={current ? "page" : undefined}
          onClick={(event) => {
            if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
              return;
            }
            if (onOpen?.(room.id)) event.preventDefault();
          }}
        >
          <span class="sigil" aria-hidden="true">
            {room.is_direct ? "@" : room.is_private ? <LockIcon /> : "#"}
          </span>
          <span class="room-name">{roomLabel(room, meUsername)}</span>
          {room.is_private && !room.is_direct && <span class="visually-hidden">(private)</span>}
          {unread > 0 && (
            <span class="badge" data-unread={unread}>
              {unread > 99 ? "99+" : unread}
              <span class="visually-hidden">unread</span>
            </span>
          )}
        </a>
      </li>
    );
  };
  return (
    <>
      <Section
        id="sidebar-rooms"
        title="Rooms"
        add={{ href: "/rooms#create-room", label: "Create a room", action: onNewRoom }}
        empty="No rooms yet."
      >
        {rooms.map(link)}
      </Section>
      <Section
        id="sidebar-dms"
        title="Direct messages"
        add={{ href: "/rooms#dm", label: "Start a direct message", action: onNewDirect }}
        empty="No conversations yet."
      >
        {direct.map(link)}
      </Section>
      <p class="sidebar-browse">
        <a href="/rooms">Browse rooms</a>
      </p>
    </>
  );
}

/** A titled list of rooms with its "+" link (handled by `add.action` in the page when given). */
function Section(props: {
  id: string;
  title: string;
  add: { href: string; label: string; action?: () => void };
  empty: string;
  children: JSX.Element[];
}) {
  const { id, add } = props;
  return (
    <>
      <div class="sidebar-section">
        <h2 id={`${id}-title`}>{props.title}</h2>
        <a
          class="icon-button"
          href={add.href}
          title={add.label}
          aria-label={add.label}
          onClick={(event) => instead(event, add.action)}
        >
          +
        </a>
      </div>
      <ul class="sidebar-list" id={id} aria-labelledby={`${id}-title`}>
        {props.children}
      </ul>
      {props.children.length === 0 && <p class="muted sidebar-empty">{props.empty}</p>}
    </>
  );
}

/** A plain left click handled by `action` instead of following the link. */
function instead(event: MouseEvent, action: (() => void) | undefined): void {
  if (!action || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  action();
}

function LockIcon() {
  return (
    <svg viewBox="0 0 16 16" width="12" height="12" focusable="false">
      <rect x="2.5" y="7" width="11" height="8" rx="1.5" fill="currentColor" />
      <path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="currentColor" stroke-width="1.8" />
    </svg>
  );
}
