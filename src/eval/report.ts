/** Markdown tables of evaluation results (the run directory's report and docs/results.md). */

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const line = (cells: readonly string[]) => `| ${cells.map(esc).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n') + '\n';
}

const f4 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(4));

/**
 * The quality table: one row per model with the primary (seen-excluded) metrics, @10 as mean ± std
 * over seeds, the seen-included @10 figures beside, the invalid-ID rate and training time.
 */
export function qualityMarkdown(title: string, models: Record<string, Record<string, number>>, notes: readonly string[] = []): string {
  const header = ['model', 'R@5', 'N@5', 'R@10', 'N@10', 'R@20', 'N@20', 'R@10 incl. seen', 'N@10 incl. seen', 'invalid', 'train s'];
  const rows = Object.entries(models).map(([name, m]) => [
    name, f4(m['recall@5']), f4(m['ndcg@5']),
    `${f4(m['recall@10'])} ± ${f4(m['recall@10_std'])}`, `${f4(m['ndcg@10'])} ± ${f4(m['ndcg@10_std'])}`,
    f4(m['recall@20']), f4(m['ndcg@20']), f4(m['recall@10_incl_seen']), f4(m['ndcg@10_incl_seen']),
    f4(m.invalid_rate), m.train_s === undefined ? '–' : m.train_s.toFixed(1),
  ]);
  const body = markdownTable(header, rows);
  return `## ${title}\n\nSeen items excluded (primary) unless marked; ± is the std over seeds.\n\n${body}${notes.length ? '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n' : ''}`;
}
