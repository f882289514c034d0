// Characters that act instead of showing: C0/C1 controls (line breaks, ESC, which starts
// terminal escape sequences), DEL, the line and paragraph separators (line terminators in
// JavaScript), bidirectional overrides and isolates (which reorder what a reader sees:
// "Trojan Source"), zero-width characters and the BOM. Text that comes from a user goes
// through `escapeInvisible` wherever it is shown or generated.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

/** Each invisible character (tab included) written by `write` as something visible. */
export function escapeInvisible(s: string, write: (code: string) => string): string {
  return s.replace(INVISIBLE, (c) => write(c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')));
}
