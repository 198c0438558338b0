/**
 * HTML built from strings that may hold anything a device sent. `html` escapes every value it
 * interpolates unless the value is already `SafeHtml` (made by `html` itself or vouched for with
 * `raw`), so markup only ever comes from the templates.
 */
export class SafeHtml {
  private constructor(private readonly markup: string) {}

  /** Markup taken as is: only for text that is known to be HTML already. */
  static trust(markup: string): SafeHtml {
    return new SafeHtml(markup);
  }

  toString(): string {
    return this.markup;
  }
}

/** What a template accepts: nothing (null, undefined, false) renders as nothing, lists are joined. */
export type Interpolation = SafeHtml | string | number | null | undefined | false | readonly Interpolation[];

const entities: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text as HTML text or as the value of a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => entities[char] ?? char);
}

export function raw(markup: string): SafeHtml {
  return SafeHtml.trust(markup);
}

export function html(strings: TemplateStringsArray, ...values: readonly Interpolation[]): SafeHtml {
  let markup = strings[0] ?? '';
  for (const [index, value] of values.entries()) markup += render(value) + (strings[index + 1] ?? '');
  return SafeHtml.trust(markup);
}

function isList(value: Interpolation): value is readonly Interpolation[] {
  return Array.isArray(value);
}

function render(value: Interpolation): string {
  if (value instanceof SafeHtml) return value.toString();
  if (value === null || value === undefined || value === false) return '';
  if (isList(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}
