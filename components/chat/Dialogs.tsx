/**
 * The sidebar's "+" dialogs: create a room, start a direct conversation. Each is a native modal `<dialog>`
 * (focus kept inside, Escape closes it); the work is the caller's (`onCreate`, `onSearch`, `onMessage`), and a
 * refusal shows in plain words in the dialog. Without JavaScript the "+" links lead to the same forms on the
 * browse page instead.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Member } from "../../lib/client/mod.ts";

/** A modal dialog shown while `open`; closing it (Escape, the Close button) calls `onClose`. */
function Modal(
  props: { id: string; title: string; open: boolean; onClose: () => void; children: ComponentChildren },
) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      id={props.id}
      class="modal"
      aria-labelledby={`${props.id}-title`}
      onClose={props.onClose}
    >
      <div class="modal-head">
        <h2 id={`${props.id}-title`}>{props.title}</h2>
        <button type="button" class="icon-button" aria-label="Close" onClick={props.onClose}>✕</button>
      </div>
      {props.open && props.children}
    </dialog>
  );
}

/** Runs `action`, keeping its refusal's message and whether it runs. */
function useSubmit() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run };
}

export function NewRoomDialog(props: {
  open: boolean;
  onClose: () => void;
  onCreate: (input: { name: string; description: string; is_private: boolean }) => Promise<void>;
}) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [isPrivate, setPrivate] = useState(false);
  const submit = useSubmit();
  return (
    <Modal id="new-room" title="Create a room" open={props.open} onClose={props.onClose}>
      <form
        id="new-room-form"
        onSubmit={(event) => {
          event.preventDefault();
          submit.run(() =>
            props.onCreate({ name: name.trim(), description: description.trim(), is_private: isPrivate })
          );
        }}
      >
        <label for="new-room-name">Name</label>
        <input
          id="new-room-name"
          value={name}
          required
          maxLength={100}
          autofocus
          aria-invalid={submit.error ? "true" : undefined}
          aria-describedby={submit.error ? "new-room-error" : undefined}
          onInput={(event) => setName((event.target as HTMLInputElement).value)}
        />
        <label for="new-room-description">Description</label>
        <input
          id="new-room-description"
          value={description}
          maxLength={1000}
          onInput={(event) => setDescription((event.target as HTMLInputElement).value)}
        />
        <div class="check">
          <input
            type="checkbox"
            id="new-room-private"
            checked={isPrivate}
            onChange={(event) => setPrivate((event.target as HTMLInputElement).checked)}
          />
          <label for="new-room-private">Private: only people you add can see it</label>
        </div>
        {submit.error && <p class="error" id="new-room-error" role="alert">{submit.error}</p>}
        <button type="submit" disabled={submit.busy}>Create room</button>
      </form>
    </Modal>
  );
}

/** Search results come this long after the last key. */
const SEARCH_DELAY_MS = 200;

export function NewDirectDialog(props: {
  open: boolean;
  meId: string;
  onClose: () => void;
  onSearch: (q: string) => Promise<Member[]>;
  onMessage: (userId: string) => Promise<void>;
}) {
  const [q, setQ] = useState("");
  const [found, setFound] = useState<Member[] | null>(null);
  const submit = useSubmit();
  useEffect(() => {
    const query = q.trim();
    if (query === "") {
      setFound(null);
      return;
    }
    let current = true;
    const t = setTimeout(() => {
      props.onSearch(query).then(
        (people) => current && setFound(people.filter((p) => p.id !== props.meId)),
        () => current && setFound([]),
      );
    }, SEARCH_DELAY_MS);
    return () => {
      current = false;
      clearTimeout(t);
    };
  }, [q]);
  return (
    <Modal id="new-direct" title="Direct message" open={props.open} onClose={props.onClose}>
      <label for="new-direct-search">Find a person by username or name</label>
      <input
        id="new-direct-search"
        type="search"
        value={q}
        autofocus
        autocomplete="off"
        aria-controls="new-direct-results"
        onInput={(event) => setQ((event.target as HTMLInputElement).value)}
      />
      <ul class="user-list" id="new-direct-results" aria-live="polite">
        {found?.map((person) => (
          <li key={person.id}>
            <span class={person.online ? "dot online" : "dot"} aria-hidden="true" />
            <span>{person.display_name ?? person.username}</span>{" "}
            <span class="muted">@{person.username}</span>
            <button
              type="button"
              aria-label={`Message ${person.username}`}
              disabled={submit.busy}
              onClick={() => submit.run(() => props.onMessage(person.id))}
            >
              Message
            </button>
          </li>
        ))}
      </ul>
      {found?.length === 0 && <p class="muted">Nobody matches "{q.trim()}".</p>}
      {submit.error && <p class="error" role="alert">{submit.error}</p>}
    </Modal>
  );
}
