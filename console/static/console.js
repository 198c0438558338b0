// MQTT Sentinel console: the live verdicts table and htmx error reporting. Plain browser JS, no
// build step. Data from the server only ever reaches the page through textContent and attributes.

(() => {
  const knownDecisions = new Set(['allow', 'block', 'quarantine', 'released', 'dropped', 'expired']);

  /** `2026-12-06 10:31:05.123Z`, as the server-rendered tables write times. */
  function formatTime(epochMs) {
    const date = new Date(epochMs);
    return Number.isNaN(date.getTime()) ? '—' : date.toISOString().replace('T', ' ');
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function cell(...children) {
    const td = document.createElement('td');
    td.append(...children);
    return td;
  }

  function isVerdict(value) {
    return (
      value !== null &&
      typeof value === 'object' &&
      typeof value.eventId === 'string' &&
      typeof value.clientId === 'string' &&
      typeof value.decision === 'string' &&
      typeof value.decidedAt === 'number' &&
      (value.topic === null || typeof value.topic === 'string') &&
      Array.isArray(value.ruleIds)
    );
  }

  function verdictRow(verdict) {
    const row = document.createElement('tr');
    row.dataset.eventId = verdict.eventId;

    const time = element('time', '', formatTime(verdict.decidedAt));
    if (time.textContent !== '—') time.dateTime = new Date(verdict.decidedAt).toISOString();
    row.append(cell(time));

    const decisionClass = knownDecisions.has(verdict.decision) ? verdict.decision : 'other';
    const badge = element('span', `badge decision-${decisionClass}`, verdict.decision);
    const decision = cell(badge);
    if (verdict.mode && verdict.mode !== 'enforce')
      decision.append(' ', element('span', 'badge shadow', verdict.mode));
    if (verdict.operator) decision.append(' ', element('span', 'subtle', `by ${verdict.operator}`));
    row.append(decision);

    const client = element('a', '', verdict.clientId);
    client.href = `/devices/${encodeURIComponent(verdict.clientId)}`;
    row.append(cell(client));

    row.append(
      cell(verdict.topic === null ? element('span', 'none', '—') : element('code', 'topic', verdict.topic)),
    );

    const rules = element('ul', 'rules');
    for (const ruleId of verdict.ruleIds) {
      const item = document.createElement('li');
      item.append(element('code', '', String(ruleId)));
      rules.append(item);
    }
    row.append(cell(verdict.ruleIds.length === 0 ? element('span', 'none', 'none') : rules));
    return row;
  }

  /** Fills #verdict-stream from the server's verdict events; EventSource reconnects by itself. */
  function streamVerdicts(tbody) {
    const stateElement = document.getElementById('verdict-stream-state');
    const maxRows = Number(tbody.dataset.maxRows) || 200;
    let source = null;

    function showState(state, text) {
      if (!stateElement || stateElement.dataset.state === state) return;
      stateElement.dataset.state = state;
      stateElement.textContent = text;
    }

    function connect() {
      showState('connecting', 'Connecting to the live stream…');
      source = new EventSource(tbody.dataset.source || '/api/v1/verdicts/stream');
      source.addEventListener('open', () => showState('open', 'Live: new verdicts appear at the top.'));
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED) {
          // The server refused the stream (signed out, or it is down): EventSource gives up.
          showState('closed', 'The live stream stopped. Reload the page to reconnect.');
        } else {
          showState('reconnecting', 'The live stream was interrupted; reconnecting…');
        }
      });
      source.addEventListener('verdict', (event) => {
        let verdict;
        try {
          verdict = JSON.parse(event.data);
        } catch {
          return;
        }
        if (!isVerdict(verdict)) return;
        for (const placeholder of tbody.querySelectorAll('tr.placeholder')) placeholder.remove();
        tbody.prepend(verdictRow(verdict));
        while (tbody.rows.length > maxRows) tbody.deleteRow(-1);
      });
    }

    connect();
    // A page kept in the back-forward cache must not hold a stream open.
    window.addEventListener('pagehide', () => source?.close());
    window.addEventListener('pageshow', (event) => {
      if (event.persisted) connect();
    });
  }

  /** Failures htmx does not swap into the page are said in #console-alert. */
  function reportRequestFailures() {
    const alert = document.getElementById('console-alert');
    if (!alert) return;
    const show = (text) => {
      alert.textContent = text;
      alert.hidden = false;
    };

    document.addEventListener('htmx:responseError', (event) => {
      const xhr = event.detail.xhr;
      const rules = window.htmx?.config?.responseHandling ?? [];
      const rule = rules.find((candidate) => new RegExp(candidate.code).test(String(xhr.status)));
      if (rule?.swap) return; // shown in place, by the fragment the server answered with
      let message = '';
      try {
        message = JSON.parse(xhr.responseText)?.error?.message ?? '';
      } catch {
        message = '';
      }
      const what =
        xhr.status === 401
          ? 'Your session has ended: reload the page to sign in again.'
          : `The console answered ${xhr.status}.`;
      show(message ? `${what} ${message}` : what);
    });
    document.addEventListener('htmx:sendError', () =>
      show('The console could not be reached. Check the connection and try again.'),
    );
    document.addEventListener('htmx:afterRequest', (event) => {
      if (event.detail.successful) alert.hidden = true;
    });
  }

  function start() {
    const tbody = document.getElementById('verdict-stream');
    if (tbody) streamVerdicts(tbody);
    reportRequestFailures();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
