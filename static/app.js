/*
 * The page's small enhancements without an island (loaded deferred on every page): the dark mode toggle in the
 * top bar and the service worker registration (static/sw.js).
 */
{
  const root = document.documentElement;
  const systemDark = matchMedia("(prefers-color-scheme: dark)");
  const toggle = document.getElementById("theme-toggle");
  const themeColors = document.querySelectorAll('meta[name="theme-color"]');

  const isDark = () => root.dataset.theme ? root.dataset.theme === "dark" : systemDark.matches;
  /** The toggle's state, and the browser's title bar in the top bar's colour (its metas only know the system). */
  const show = () => {
    toggle.setAttribute("aria-pressed", String(isDark()));
    // The colour as drawn (the palette's light-dark() pair resolved for the theme in force).
    const topbar = getComputedStyle(toggle.closest(".topbar") ?? root).backgroundColor;
    for (const meta of themeColors) meta.content = topbar;
  };

  /** Applies `theme` and remembers it; choosing what the system prefers goes back to following the system. */
  const choose = (theme) => {
    const followSystem = theme === (systemDark.matches ? "dark" : "light");
    try {
      if (followSystem) localStorage.removeItem("theme");
      else localStorage.setItem("theme", theme);
    } catch {
      // Storage blocked: the choice lasts for this page only.
    }
    if (followSystem) delete root.dataset.theme;
    else root.dataset.theme = theme;
    show();
  };

  if (toggle) {
    toggle.addEventListener("click", () => choose(isDark() ? "light" : "dark"));
    systemDark.addEventListener("change", show);
    show();
    toggle.hidden = false;
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      // No offline support (e.g. storage disabled); the app works as before.
    });
  }
}
