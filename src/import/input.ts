// Reads the documents of one input file (pure): multi-document YAML, with `kind: List` (what
// `kubectl get -o yaml` prints) flattened into its items. Errors name the file and the document.
import { loadAll } from 'js-yaml';
import { isRecord, type SourceObject } from './report.ts';

export class InputError extends Error {}

/** 1-based number of the document that holds 0-based `line`: separators ("---") above it, not counting a leading one. */
function documentAt(text: string, line: number): number {
  const lines = text.split('\n');
  const firstContent = lines.findIndex((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  let n = 1;
  for (let i = 0; i < Math.min(line, lines.length); i++) if (/^---(\s|$)/.test(lines[i]!) && i !== firstContent) n++;
  return n;
}

export function parseDocuments(text: string, file: string): SourceObject[] {
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (err) {
    const mark = (err as { mark?: { line?: number } }).mark;
    const where =
      mark?.line !== undefined ? `document ${documentAt(text, mark.line)} (line ${mark.line + 1})` : 'document ?';
    throw new InputError(`${file}: ${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: SourceObject[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    const where = `${file}: document ${i + 1}`;
    if (!isRecord(doc) || typeof doc.kind !== 'string' || typeof doc.apiVersion !== 'string')
      throw new InputError(`${where}: not a Kubernetes object (needs apiVersion and kind)`);
    if (doc.kind.endsWith('List') && Array.isArray(doc.items)) {
      doc.items.forEach((item, j) => {
        if (!isRecord(item) || typeof item.kind !== 'string' || typeof item.apiVersion !== 'string')
          throw new InputError(`${where}: items[${j}]: not a Kubernetes object (needs apiVersion and kind)`);
        out.push(item);
      });
    } else out.push(doc);
  });
  return out;
}
