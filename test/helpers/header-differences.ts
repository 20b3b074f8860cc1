/**
 * How the identity headers one middleware left the application differ from those another left, in words
 * ("x-user-id: \"a\" vs Python (absent)", values cut to `width` characters): X-Service-Catalog compared as JSON,
 * the others as text. `ignore` passes over a difference a test checks on its own.
 */
export function headerDifferences(ours: Record<string, string>, theirs: Record<string, string>, width: number, ignore?: (name: string, ours: string | undefined, theirs: string | undefined) => boolean): string[] {
  const found: string[] = [];
  for (const name of new Set([...Object.keys(ours), ...Object.keys(theirs)])) {
    const [a, b] = [ours[name], theirs[name]];
    if (ignore?.(name, a, b)) continue;
    const same = name === 'x-service-catalog' && a && b ? JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b)) : a === b;
    if (!same) found.push(`${name}: ${a === undefined ? '(absent)' : JSON.stringify(a).slice(0, width)} vs Python ${b === undefined ? '(absent)' : JSON.stringify(b).slice(0, width)}`);
  }
  return found;
}
