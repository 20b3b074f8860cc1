/**
 * The catalog of the last v3 token read, kept deep-frozen with its v2 form and its X-Service-Catalog text. The
 * tokens of a deployment carry the same catalog (a region's services, the same for every user of a project): a
 * token whose catalog is the same JSON as the kept one (the same keys in the same order, the same values) takes
 * the kept copy into its body in place of its own, so that its catalog is neither converted, nor frozen, nor
 * serialised again. Its body still reads back, and serialises, exactly as signed. One catalog is kept (a few
 * kilobytes); a token with another catalog costs a comparison that stops at the first difference, and replaces it.
 */
export class CatalogMemo {
  private last: { v3: readonly unknown[]; flat: unknown[]; v2: readonly unknown[]; text: string | undefined } | undefined;

  /** The kept catalogs (v3, and its v2 form) when `catalog` is the same JSON as the kept v3 one, else undefined. */
  recall(catalog: readonly unknown[]): { v3: readonly unknown[]; v2: readonly unknown[] } | undefined {
    const last = this.last;
    return last !== undefined && matchFlat(catalog, last.flat, 0) === last.flat.length ? last : undefined;
  }

  /** Keeps a v3 catalog and its v2 form; both must be deep-frozen (they are handed to every token that matches). */
  remember(v3: readonly unknown[], v2: readonly unknown[]): void {
    const flat: unknown[] = [];
    flatten(v3, flat);
    this.last = { v3, flat, v2, text: undefined };
  }

  /** The X-Service-Catalog text kept for this very v2 catalog (the kept one, by reference), else undefined. */
  textOf(v2: readonly unknown[]): string | undefined {
    return this.last?.v2 === v2 ? this.last.text : undefined;
  }

  rememberText(v2: readonly unknown[], text: string): void {
    if (this.last?.v2 === v2) this.last.text = text;
  }
}

/** One memo per process: what it keeps is a pure function of signed JSON, the same for every middleware. */
export const catalogMemo = new CatalogMemo();

const ARRAY = Symbol('array');
const OBJECT = Symbol('object');

/**
 * A JSON value as one sequence, in the order JSON.stringify writes it: an array is ARRAY, its length and its
 * items; an object is OBJECT, its key count and its keys each followed by its value; anything else is itself.
 * A catalog is compared against it without a key array per object.
 */
function flatten(value: unknown, flat: unknown[]): void {
  if (Array.isArray(value)) {
    flat.push(ARRAY, value.length);
    for (let i = 0; i < value.length; i++) flatten(value[i], flat);
  } else if (typeof value === 'object' && value !== null) {
    flat.push(OBJECT, Object.keys(value).length);
    for (const key in value) {
      flat.push(key);
      flatten((value as Record<string, unknown>)[key], flat);
    }
  } else flat.push(value);
}

/**
 * Where the flattened value that starts at `at` ends when `value` is the same JSON (the same primitives, arrays
 * of the same items, objects with the same keys in the same order), else -1.
 */
function matchFlat(value: unknown, flat: unknown[], at: number): number {
  const expected = flat[at];
  if (expected === ARRAY) {
    if (!Array.isArray(value) || value.length !== flat[at + 1]) return -1;
    at += 2;
    for (let i = 0; i < value.length && at >= 0; i++) at = matchFlat(value[i], flat, at);
    return at;
  }
  if (expected === OBJECT) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return -1;
    const count = flat[at + 1] as number;
    let seen = 0;
    at += 2;
    for (const key in value) {
      if (seen++ === count || key !== flat[at]) return -1;
      at = matchFlat((value as Record<string, unknown>)[key], flat, at + 1);
      if (at < 0) return -1;
    }
    return seen === count ? at : -1;
  }
  return value === expected ? at + 1 : -1;
}
