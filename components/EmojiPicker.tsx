/**
 * An "Add emoji" button that opens a popover: a search box (by shortcode name) over a grid of emoji buttons,
 * the common ones until something is typed. Keyboard: the search box has focus when it opens, ArrowDown moves
 * into the grid, arrow keys, Home and End move in it (Tab works too), Enter or Space picks, Escape closes and
 * returns focus to the button. Each emoji button is named by its shortcode. Styled by static/markdown.css.
 *
 * Usage (for example beside the composer, inserting at the caret):
 *
 *   <EmojiPicker onPick={(emoji) => setDraft((draft) => draft + emoji)} />
 */
import { useEffect, useId, useLayoutEffect, useRef, useState } from "preact/hooks";
import { emojiTableLoaded, loadEmojiTable, searchEmoji } from "../lib/markdown/emoji.ts";

/** Emoji per grid row (arrow keys up and down move by this many). */
const COLUMNS = 8;
const SHOWN = 48;

export function EmojiPicker({ onPick }: { onPick(emoji: string): void }) {
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  const id = useId();
  const root = useRef<HTMLDivElement>(null);
  const toggle = useRef<HTMLButtonElement>(null);
  const search = useRef<HTMLInputElement>(null);
  const grid = useRef<HTMLDivElement>(null);
  const [tableLoaded, setTableLoaded] = useState(emojiTableLoaded);
  const found = open ? searchEmoji(query, SHOWN) : [];

  // Searching needs the whole table: it loads when the picker first opens.
  useEffect(() => {
    if (open && !tableLoaded) loadEmojiTable().then(() => setTableLoaded(true), () => {});
  }, [open]);

  // Focus moves to the search box as soon as it is there, so the first key typed lands in it.
  useLayoutEffect(() => {
    if (open) search.current?.focus();
  }, [open]);

  useEffect(() => {
    if (!open) return;
    // A click anywhere else closes the popover (focus stays where the click put it).
    const onPointerDown = (event: PointerEvent) => {
      if (!root.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("pointerdown", onPointerDown);
    return () => document.removeEventListener("pointerdown", onPointerDown);
  }, [open]);

  function close(): void {
    setOpen(false);
    setQuery("");
    toggle.current?.focus();
  }

  function focusEmoji(index: number): void {
    const buttons = grid.current?.querySelectorAll<HTMLButtonElement>("button") ?? [];
    if (buttons.length > 0) buttons[Math.max(0, Math.min(buttons.length - 1, index))].focus();
  }

  function onGridKey(event: KeyboardEvent, index: number): void {
    const moves: Record<string, number> = {
      ArrowLeft: index - 1,
      ArrowRight: index + 1,
      ArrowUp: index - COLUMNS,
      ArrowDown: index + COLUMNS,
      Home: 0,
      End: found.length - 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    if (event.key === "ArrowUp" && index < COLUMNS) search.current?.focus();
    else focusEmoji(moves[event.key]);
  }

  return (
    <div
      class="emoji-picker"
      ref={root}
      onKeyDown={(event) => {
        if (event.key === "Escape" && open) {
          event.preventDefault();
          close();
        }
      }}
    >
      <button
        type="button"
        class="emoji-picker-toggle"
        ref={toggle}
        aria-expanded={open}
        aria-controls={id}
        onClick={() => open ? close() : setOpen(true)}
        title="Add emoji"
      >
        <span aria-hidden="true">🙂</span>
        <span class="visually-hidden">Add emoji</span>
      </button>
      {open && (
        <div class="emoji-picker-popover" id={id} role="dialog" aria-label="Emoji">
          <input
            type="search"
            ref={search}
            class="emoji-picker-search"
            placeholder="Search by name"
            aria-label="Search emoji by name"
            value={query}
            onInput={(event) => setQuery((event.target as HTMLInputElement).value)}
            onKeyDown={(event) => {
              if (event.key === "ArrowDown") {
                event.preventDefault();
                focusEmoji(0);
              }
            }}
          />
          <div class="emoji-picker-grid" ref={grid} role="group" aria-label="Emoji">
            {found.map(({ emoji, names }, index) => (
              <button
                key={emoji}
                type="button"
                class="emoji-picker-emoji"
                aria-label={names[0].replaceAll("_", " ")}
                title={`:${names[0]}:`}
                onClick={() => {
                  onPick(emoji);
                  close();
                }}
                onKeyDown={(event) => onGridKey(event, index)}
              >
                {emoji}
              </button>
            ))}
          </div>
          {found.length === 0 && (
            <p class="emoji-picker-empty">{tableLoaded ? `No emoji named “${query}”` : "Loading…"}</p>
          )}
        </div>
      )}
    </div>
  );
}
