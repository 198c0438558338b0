import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, html, raw, SafeHtml } from './html.js';

describe('html', () => {
  it('escapes the five characters that can end text or a quoted attribute', () => {
    assert.equal(
      escapeHtml(`<a href="x" title='y'>&amp;</a>`),
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;',
    );
  });

  it('escapes every interpolated string and number, in text and in attributes', () => {
    const value = '<script>alert("x")</script>';
    const out = html`<p title="${value}">${value} ${42}</p>`.toString();
    assert.equal(
      out,
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; 42</p>',
    );
  });

  it('inserts SafeHtml as is, so nested templates are escaped once', () => {
    const inner = html`<b>${'a & b'}</b>`;
    assert.ok(inner instanceof SafeHtml);
    assert.equal(html`<p>${inner}</p>`.toString(), '<p><b>a &amp; b</b></p>');
    assert.equal(html`${raw('<hr>')}`.toString(), '<hr>');
  });

  it('joins lists (nested too), escaping the strings in them and keeping the SafeHtml', () => {
    const items = ['<x>', html`<i>y</i>`, [html`<u>z</u>`, '&']];
    assert.equal(html`<p>${items}</p>`.toString(), '<p>&lt;x&gt;<i>y</i><u>z</u>&amp;</p>');
  });

  it('renders null, undefined and false as nothing, 0 as 0', () => {
    assert.equal(html`[${null}${undefined}${false}${0}]`.toString(), '[0]');
  });

  it('does not take an object that merely looks like SafeHtml for markup', () => {
    const lookalike = { toString: () => '<script>x</script>' } as unknown as string;
    assert.equal(html`${lookalike}`.toString(), '&lt;script&gt;x&lt;/script&gt;');
  });
});
