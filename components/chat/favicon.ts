/** The tab's icon with a count on it: how many unread events wait in the user's other rooms. */
const PLAIN = "/favicon.svg";

/** An SVG of the app's bubble with `total` on a badge (99+ past 99). */
export function badgedIcon(total: number): string {
  const label = total > 99 ? "99+" : String(total);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">` +
    `<rect x="4" y="8" width="46" height="36" rx="8" fill="#2456c9"/><path d="M14 44 L14 56 L26 44 Z" fill="#2456c9"/>` +
    `<circle cx="46" cy="20" r="18" fill="#c62828"/>` +
    `<text x="46" y="27" font-family="sans-serif" font-size="${
      label.length > 2 ? 14 : 20
    }" font-weight="700" ` +
    `text-anchor="middle" fill="#fff">${label}</text></svg>`;
}

/** Sets the page's icon: the plain one for 0, else the badged one. */
export function setFavicon(total: number): void {
  const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
  if (!link) return;
  link.href = total === 0 ? PLAIN : `data:image/svg+xml,${encodeURIComponent(badgedIcon(total))}`;
}
