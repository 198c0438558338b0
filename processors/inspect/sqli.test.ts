import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectSqli } from './sqli.js';

// Inputs are already normalised (decoded, lower-cased), as the patterns step passes them.
const injections = [
  "' or '1'='1",
  "admin'--",
  "admin' #",
  '" or ""="',
  '1 or 1=1',
  '1) or (1=1',
  "') or ('a'='a",
  "' union select username, password from users--",
  '-1 union/**/select 1,2',
  '1; drop table sensors',
  "'; exec xp_cmdshell('dir')--",
  "1' and sleep(5)#",
  "'; waitfor delay '0:0:5'--",
  "' and extractvalue(1,concat(0x7e,version()))--",
  "1' order by 3--",
  "' or true--",
  "' || (select password from users) || '",
  'select * from users',
  '1 /*!50000union*/ select 1,2',
  // Probes on a column or a function rather than a literal tautology.
  "x' or api_key<>''--",
  "7' and 2*3=6#",
  "x' or hostname rlike '^db'",
  "' and token not like 'a%'--",
  "guest' and owner is not null--",
  '12 and length(secret)>4',
  '99 or false;',
  "admin' group by role having 1=1--",
  // Column probes with ORDER/GROUP BY lists, ended by a comment or continued as SQL only.
  "x' group by users.name, users.pass having 1=1--",
  "x' order by name desc, 2 asc#",
  '5 group by device_id with rollup',
  "a') group by length(pw) limit 1;--",
  "q' group by id;",
  "x' group by a having (1=1)--",
  // Arithmetic on the broken value.
  "x'+0--",
  "7'*1=7 and '",
  "id'-0=0;",
  "tank' and (case when 1=1 then 1 else 0 end)=1--",
  // A break after the value's own apostrophe; concatenation that reopens the string.
  "kid's_room' and 44 not in (78)-- -",
  "kid's_room' having 1>0",
  "bay-25'+'g7",
  "porch' - 8 - '",
  "lab'||'x1",
  // PostgreSQL's ~ as the probe's REGEXP; conditional sorting; a column probe the quote ends.
  "office' or api_key ~ '^1'",
  '696 order by if(1=1,serial,id)',
  "boiler-27' group by email",
  // Timing alone with its tail commented; spaces hidden in comments; a negative number's probe.
  'sleep(20)#',
  '6196/**/and/**/true',
  '-664 or 61',
];

const prose = [
  'please select the operating mode from the menu',
  'select all sensors where battery is low',
  'firmware update available; install tonight',
  "operator's note: don't reboot",
  "o'reilly's greenhouse or the barn",
  'temperature > 30 or humidity < 20',
  'retry in 20 or 30 seconds',
  'union station platform 4',
  'order by date, then by severity',
  "the list 'group by region, then sort' is empty",
  "note: 'order by name desc' in the report view",
  "rated '+5' by users",
  "press '+' to add a sensor",
  'hour=22 and door=open',
  'level=3 or alarm=1',
  '20-30 # office',
  '12-06 -- tbd',
  '2+2=4 and 3+3=6',
  "offset '-2 = west' in the zone file",
  "calibrate: temp '+0.5' and humidity '-2'",
  'values 1=on, 0=off',
  'sleep mode enabled; wake on motion',
  "door == 'open' and hour >= 22",
  'drop rate 0.3% or lower',
  "don't use select * here, list the columns",
  "it's cold and temp > 30",
  '3 or more sensors offline (see log)',
  'zone 2 and 3 are idle',
  "kid's room is 21 or 22 degrees",
  "rock 'n' roll playlist",
  "it's 5 - 6 o'clock",
  'sleep(5) then retry',
  '20 or 30',
  "bob's 'group by' note",
  // Prose that starts with AND/OR.
  'and the door is open',
  'or the fan is off',
  'and temperature > 30',
  'or press the button like this',
  'order by 5 pm for next-day delivery',
  // Tasmota's Zigbee keys: cluster<command.
  '0004<02',
  '0006>01',
  '5=5',
];

for (const text of injections) {
  test(`flags injection ${JSON.stringify(text)}`, () => {
    assert.notEqual(detectSqli(text), null);
  });
}

for (const text of prose) {
  test(`leaves telemetry prose alone: ${JSON.stringify(text)}`, () => {
    assert.equal(detectSqli(text), null);
  });
}

test('reports the shape that matched and where', () => {
  const match = detectSqli("name=x' or 1=1--");
  assert.ok(match);
  assert.match(match.shape, /single-quote:break-tautology/);
  assert.equal(match.offset, 6);
});
