// Fenced code blocks of a Markdown document, by info string (```frr, ```bird, ```yaml, ```console).
export function fencedBlocks(markdown: string, language: string): string[] {
  const out: string[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(re)) if (m[1]!.trim() === language) out.push(m[2]!);
  return out;
}
