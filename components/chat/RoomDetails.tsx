/**
 * The right panel of a room: what it is about, its members with presence, and for the room's creator the
 * settings (name, description, add and remove people); anyone may leave a room (not a direct conversation).
 * Every action reports the server's refusal in plain words next to its form.
 */
import { useState } from "preact/hooks";
import type { Member, RoomEntry } from "../../lib/client/mod.ts";
import { Avatar } from "./Avatar.tsx";
import { personLabel } from "./titles.ts";

export interface RoomActions {
  update(change: { name?: string; description?: string }): Promise<void>;
  addMember(username: string): Promise<void>;
  removeMember(userId: string): Promise<void>;
  leave(): Promise<void>;
}

export interface RoomDetailsProps {
  room: RoomEntry;
  members: readonly Member[];
  meId: string;
  /** Absent before the page runs: the panel then only lists. */
  actions?: RoomActions;
}

/** Runs a form's action, keeping its error message (or none) and whether it is busy. */
function useAction() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>, done?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      done?.();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run };
}

export function RoomDetails({ room, members, meId, actions }: RoomDetailsProps) {
  const owner = !room.is_direct && room.creator_id === meId;
  const settings = useAction();
  const people = useAction();
  const leaving = useAction();
  const [name, setName] = useState(room.name);
  const [description, setDescription] = useState(room.description);
  const [username, setUsername] = useState("");
  const online = members.filter((m) => m.online).length;
  return (
    <>
      <section class="details-section" aria-labelledby="details-about">
        <h2 id="details-about">{room.is_direct ? "Conversation" : "About"}</h2>
        {room.description ? <p dir="auto">{room.description}</p> : <p class="muted">No description.</p>}
        {!room.is_direct && (
          <p class="muted">{room.is_private ? "Private: only members see it." : "Public room."}</p>
        )}
      </section>
      <section class="details-section" aria-labelledby="members-title">
        <h2 id="members-title">Members ({members.length})</h2>
        <p class="muted">{online} online</p>
        <ul id="members" class="member-list">
          {members.map((m) => (
            <li key={m.id} data-user-id={m.id} data-online={m.online ? "true" : "false"}>
              <span class="avatar-wrap">
                <Avatar id={m.id} name={m.display_name ?? m.username} url={m.avatar_url} size={24} />
                <span class={m.online ? "dot online" : "dot"} aria-hidden="true" />
              </span>
              <span class="member-name" title={personLabel(m)}>
                <span dir="auto">{m.display_name ?? m.username}</span>
                {m.display_name !== null && <span class="muted">(@{m.username})</span>}
                {m.id === meId && <span class="muted">(you)</span>}
              </span>
              <span class="visually-hidden">{m.online ? "(online)" : "(offline)"}</span>
              {owner && actions && m.id !== meId && (
                <button
                  type="button"
                  class="link remove-member"
                  aria-label={`Remove ${m.username} from the room`}
                  disabled={people.busy}
                  onClick={() => people.run(() => actions.removeMember(m.id))}
                >
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
        {owner && actions && (
          <form
            id="add-member-form"
            class="inline-form"
            onSubmit={(event) => {
              event.preventDefault();
              if (username.trim() === "") return;
              people.run(() => actions.addMember(username.trim()), () => setUsername(""));
            }}
          >
            <label for="add-member">Add people by username</label>
            <div class="inline-row">
              <input
                id="add-member"
                value={username}
                autocomplete="off"
                aria-invalid={people.error ? "true" : undefined}
                aria-describedby={people.error ? "add-member-error" : undefined}
                onInput={(event) => setUsername((event.target as HTMLInputElement).value)}
              />
              <button type="submit" disabled={people.busy}>Add</button>
            </div>
          </form>
        )}
        {people.error && <p class="error" id="add-member-error" role="alert">{people.error}</p>}
      </section>
      {owner && actions && (
        <details class="details-section" id="room-settings">
          <summary>Room settings</summary>
          <form
            id="room-settings-form"
            onSubmit={(event) => {
              event.preventDefault();
              settings.run(() => actions.update({ name: name.trim(), description: description.trim() }));
            }}
          >
            <label for="settings-name">Name</label>
            <input
              id="settings-name"
              value={name}
              maxLength={100}
              required
              aria-invalid={settings.error ? "true" : undefined}
              aria-describedby={settings.error ? "settings-error" : undefined}
              onInput={(event) => setName((event.target as HTMLInputElement).value)}
            />
            <label for="settings-description">Description</label>
            <textarea
              id="settings-description"
              rows={3}
              maxLength={1000}
              value={description}
              onInput={(event) => setDescription((event.target as HTMLTextAreaElement).value)}
            />
            {settings.error && <p class="error" id="settings-error" role="alert">{settings.error}</p>}
            <button type="submit" disabled={settings.busy}>Save</button>
          </form>
        </details>
      )}
      {!room.is_direct && actions && (
        <section class="details-section">
          <button
            type="button"
            class="danger"
            id="leave-room"
            disabled={leaving.busy}
            onClick={() => {
              if (
                confirm(
                  `Leave ${room.name}?${room.is_private ? " You need to be added again to come back." : ""}`,
                )
              ) {
                leaving.run(actions.leave);
              }
            }}
          >
            Leave room
          </button>
          {leaving.error && <p class="error" role="alert">{leaving.error}</p>}
        </section>
      )}
    </>
  );
}
