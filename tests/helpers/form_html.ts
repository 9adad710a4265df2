/** Reading server-rendered forms in HTTP-level page tests. */

/** The error summary's lines (link target and text) and each field's error message, from a page's HTML. */
export function formProblems(html: string): { summary: string[]; byField: Record<string, string> } {
  const summaryHtml = /<div class="error-summary"[^>]*role="alert"[^>]*>(.*?)<\/div>/s.exec(html)?.[1] ?? "";
  const summary = [...summaryHtml.matchAll(/<li>(?:<a href="#([\w-]+)">)?([^<]+)/g)].map((m) =>
    `${m[1] ?? "-"}: ${m[2]}`
  );
  const byField: Record<string, string> = {};
  for (const m of html.matchAll(/<p class="error" id="([\w-]+)-error">.*?<\/span> ([^<]+)<\/p>/g)) {
    byField[m[1]] = m[2];
  }
  return { summary, byField };
}
