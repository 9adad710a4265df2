/**
 * The head of the main column: the drawer button for the sidebar (phone width), the room's title and
 * description, the connection state, and the button for the members panel.
 */
import type { ConnectionStatus } from "../../lib/client/mod.ts";

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  signed_out: "Signed out",
};

/** The ☰ button that opens the sidebar as a drawer (shown at phone width only). */
export function DrawerToggle({ open, onToggle }: { open: boolean; onToggle?: () => void }) {
  return (
    <button
      type="button"
      class="icon-button drawer-toggle"
      aria-label="Rooms"
      aria-expanded={open}
      aria-controls="sidebar"
      onClick={onToggle}
    >
      ☰
    </button>
  );
}

export interface RoomHeaderProps {
  title: string;
  description: string;
  status: ConnectionStatus;
  memberCount: number;
  sidebarOpen: boolean;
  detailsOpen: boolean;
  onSidebar?: () => void;
  onDetails?: () => void;
}

export function RoomHeader(props: RoomHeaderProps) {
  const { status, memberCount } = props;
  return (
    <header class="room-head">
      <DrawerToggle open={props.sidebarOpen} onToggle={props.onSidebar} />
      <div class="room-title">
        <h1 dir="auto">{props.title}</h1>
        {props.description && <p class="muted room-desc" dir="auto">{props.description}</p>}
      </div>
      <p class={`conn conn-${status}`} id="connection-status" data-status={status} role="status">
        <span class="dot" aria-hidden="true" />
        <span class="conn-text">{STATUS_TEXT[status]}</span>
      </p>
      <button
        type="button"
        class="icon-button details-toggle"
        id="details-toggle"
        aria-label={`${memberCount} ${memberCount === 1 ? "member" : "members"}, details`}
        aria-expanded={props.detailsOpen}
        aria-controls="details"
        onClick={props.onDetails}
      >
        <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
          <circle cx="9" cy="8" r="3.5" fill="currentColor" />
          <path d="M2 20c0-4 3-6.5 7-6.5s7 2.5 7 6.5z" fill="currentColor" />
          <circle cx="17" cy="9" r="2.5" fill="currentColor" opacity="0.7" />
          <path
            d="M15.5 13.6c3.6-.4 6.5 1.6 6.5 5.4h-4.5c0-2.2-.7-4-2-5.4z"
            fill="currentColor"
            opacity="0.7"
          />
        </svg>
        <span aria-hidden="true">{memberCount}</span>
      </button>
    </header>
  );
}

/** Shown after a while without the server: what happens to messages, and a way to try again now. */
export function ConnectionBanner({ status, onRetry }: { status: ConnectionStatus; onRetry: () => void }) {
  return (
    <div class="banner" id="offline-banner" role="alert">
      <span>
        {status === "offline" ? "You are offline." : "Cannot reach the server."}{" "}
        Messages you send are kept and go out when the connection is back.
      </span>
      <button type="button" id="retry-now" onClick={onRetry}>Retry now</button>
    </div>
  );
}

/** Shown while some of the user's messages wait because the server cannot store them (its store is down). */
export function StoreDownBanner() {
  return (
    <div class="banner" id="store-down-banner" role="status">
      <span>The server cannot save messages right now. Yours are kept and go out as soon as it can.</span>
    </div>
  );
}

/**
 * Shown when the page's sign-in ended (signed out elsewhere, or it could not be renewed): the page stays
 * readable, and a link signs in again and comes back to `next`.
 */
export function SignedOutBanner({ next }: { next: string }) {
  return (
    <div class="banner" id="signed-out-banner" role="alert">
      <span>
        You were signed out on this device. <a href={`/?next=${encodeURIComponent(next)}`}>Sign in again</a>
      </span>
    </div>
  );
}
