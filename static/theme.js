/*
 * The theme this browser chose ("light" or "dark", kept in localStorage by app.js) as `data-theme` on <html>,
 * set before the first paint: loaded in <head> as a classic, blocking script. Without a choice, or without
 * JavaScript, styles.css follows the system's `prefers-color-scheme`.
 */
try {
  const theme = localStorage.getItem("theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  // Storage blocked (private mode, policies): the system preference applies.
}
