/**
 * The rooms and direct conversations of the user, each with its unread count, the open one marked as the
 * current page. Plain links (they work without JavaScript); `onOpen` may take a click over to switch in place.
 */
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
      <div class="sidebar-section">
        <h2 id="sidebar-rooms-title">Rooms</h2>
        <a
          class="icon-button"
          href="/rooms#create-room"
          title="Create a room"
          aria-label="Create a room"
          onClick={(event) => instead(event, onNewRoom)}
        >
          +
        </a>
      </div>
      <ul class="sidebar-list" id="sidebar-rooms" aria-labelledby="sidebar-rooms-title">
        {rooms.map(link)}
      </ul>
      {rooms.length === 0 && <p class="muted sidebar-empty">No rooms yet.</p>}
      <div class="sidebar-section">
        <h2 id="sidebar-dms-title">Direct messages</h2>
        <a
          class="icon-button"
          href="/rooms#dm"
          title="Start a direct message"
          aria-label="Start a direct message"
          onClick={(event) => instead(event, onNewDirect)}
        >
          +
        </a>
      </div>
      <ul class="sidebar-list" id="sidebar-dms" aria-labelledby="sidebar-dms-title">
        {direct.map(link)}
      </ul>
      {direct.length === 0 && <p class="muted sidebar-empty">No conversations yet.</p>}
      <p class="sidebar-browse">
        <a href="/rooms">Browse rooms</a>
      </p>
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
