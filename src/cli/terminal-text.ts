/**
 * Text from a token body (user, project, role and catalog names) or from an identity server is chosen by
 * whoever made it: printed raw, an ESC or C1 sequence would retitle the window, write the clipboard (OSC 52),
 * hide text (SGR 8) or move the cursor, and bidi overrides would reorder what the operator reads. Everything
 * printed by the CLI passes through here.
 */

/**
 * C0 controls (ESC, BEL, CR, newline...), DEL, C1 controls (CSI U+009B, OSC U+009D...), bidi marks, embeddings,
 * overrides and isolates, zero-width characters, line/paragraph separators, BOM, tag characters and lone
 * surrogates.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]|\p{Cs}/gu;

const escapeOne = (char: string): string => {
  const code = char.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
};

/** The text with every character that could steer a terminal written as a visible escape (\x1b, \u{202e}). */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/**
 * JSON for a terminal or a pipe: JSON.stringify escapes C0 controls but leaves C1 controls and bidi characters
 * raw; these are written as \uXXXX here (still the same JSON once parsed).
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE, (char) => {
    if (char === '\n') return char; // the layout's own newlines (inside strings, JSON.stringify wrote \n already)
    const code = char.codePointAt(0)!;
    if (code > 0xffff) return char.split('').map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    return `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
