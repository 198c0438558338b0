/**
 * OS command injection by reading the value as the shell would, not by a regular expression per
 * payload: the text is cut into commands at the shell's separators, each command's name is looked
 * up in a vocabulary that knows which names are also English words, and a command counts by where
 * it stands:
 *
 * - after a separator that follows a bare data value (`10.0.0.5; ufw disable`, `gw.local\ninit 0`,
 *   a value that starts with `;`): the classic injection position, where any known command counts,
 *   an English-looking one with what that command takes (`ip addr`, `service x stop`, `init 0`);
 * - after a separator in prose: only a command that is not an English word, or one with shell-style
 *   arguments (a flag, a path, an address, a redirect);
 * - as the whole value of a field named for a command (`"cmd": "uname -a"`, `script: rm -rf /`):
 *   a command line, or a reconnaissance command alone (`id`, `whoami`); a bare `reboot` or `halt`
 *   there is an ordinary device command and does not count;
 * - a variable assigned and then run as a command (`x=$'\x72\x65boot';$x`).
 *
 * The input is normalised text after the `shell` transform (quotes and backslashes inside words
 * removed, `$IFS` as a space). Cost: one pass to cut the text, a few set lookups per command.
 */

/** Command names that are not words of prose. */
const COMMANDS = new Set([
  'uname',
  'whoami',
  'ifconfig',
  'iwconfig',
  'iwlist',
  'iptables',
  'ip6tables',
  'iptables-save',
  'ufw',
  'nft',
  'firewall-cmd',
  'busybox',
  'chmod',
  'chown',
  'chgrp',
  'chattr',
  'passwd',
  'chpasswd',
  'useradd',
  'usermod',
  'userdel',
  'adduser',
  'deluser',
  'groupadd',
  'visudo',
  'crontab',
  'wget',
  'curl',
  'nc',
  'ncat',
  'netcat',
  'socat',
  'telnet',
  'telnetd',
  'tftp',
  'ftpget',
  'ftpput',
  'systemctl',
  'journalctl',
  'initctl',
  'telinit',
  'killall',
  'pkill',
  'insmod',
  'rmmod',
  'modprobe',
  'lsmod',
  'mkfifo',
  'mknod',
  'nvram',
  'fw_setenv',
  'fw_printenv',
  'sysupgrade',
  'opkg',
  'apt-get',
  'dpkg',
  'rpm',
  'yum',
  'dnf',
  'dropbear',
  'sshd',
  'openssl',
  'xxd',
  'base64',
  'hexdump',
  'netstat',
  'nslookup',
  'nmap',
  'masscan',
  'tcpdump',
  'traceroute',
  'umount',
  'fdisk',
  'mkfs',
  'flash_erase',
  'flashcp',
  'mtd',
  'dmesg',
  'lsof',
  'strace',
  'python',
  'python2',
  'python3',
  'perl',
  'ruby',
  'php',
  'lua',
  'bash',
  'sh',
  'zsh',
  'ksh',
  'tclsh',
  'powershell',
  'pwsh',
  'certutil',
  'bitsadmin',
  'wmic',
  'systeminfo',
  'tasklist',
  'taskkill',
  'ipconfig',
  'netsh',
  'schtasks',
  'regsvr32',
  'rundll32',
  'mshta',
  'cscript',
  'wscript',
  'vssadmin',
  'bcdedit',
  'icacls',
  'cacls',
  'xcopy',
  'setenforce',
  'sudo',
  'doas',
  'nohup',
  'setsid',
  'printenv',
  'hostnamectl',
  'rc-service',
  'rc-update',
  'update-rc.d',
  'poweroff',
  'dd',
  'ash',
  'ssh',
  'scp',
  'sftp',
  'rsync',
  'ifup',
  'ifdown',
  'brctl',
  'uci',
  'ubus',
  'shred',
  'wipefs',
  'sysinfo',
  'whereis',
]);

/** Commands that are also words of prose or of telemetry: they count only with what they take. */
const WORD_COMMANDS = new Set([
  'id',
  'reboot',
  'halt',
  'shutdown',
  'init',
  'kill',
  'ping',
  'echo',
  'sleep',
  'cat',
  'ls',
  'rm',
  'cp',
  'mv',
  'ip',
  'service',
  'find',
  'grep',
  'head',
  'tail',
  'touch',
  'mkdir',
  'mount',
  'env',
  'su',
  'ps',
  'pwd',
  'route',
  'arp',
  'sv',
  'tar',
  'unzip',
  'gzip',
  'dig',
  'host',
  'whois',
  'sed',
  'awk',
  'xargs',
  'tee',
  'chroot',
  'eval',
  'source',
  'hostname',
  'df',
  'uptime',
  'node',
  'net',
  'sc',
  'reg',
  'cmd',
  'exec',
  'ftp',
  'dir',
  'type',
  'which',
]);

/** With no argument, these still do something an attacker wants: reconnaissance and stopping the device. */
const ALONE_AFTER_DATA = new Set([
  'id',
  'reboot',
  'halt',
  'shutdown',
  'ls',
  'ps',
  'env',
  'pwd',
  'hostname',
  'uptime',
]);
/** Alone as a command field's value: reconnaissance only (`reboot` in a command field is a device's own command). */
const RECONNAISSANCE = new Set([
  'id',
  'whoami',
  'uname',
  'ifconfig',
  'ipconfig',
  'netstat',
  'ps',
  'ls',
  'env',
  'printenv',
  'pwd',
  'hostname',
  'systeminfo',
  'tasklist',
]);

/** Words before the command that run it (`sudo`, `nohup`, `busybox`, `env X=1`). */
const PREFIXES = new Set(['sudo', 'doas', 'nohup', 'setsid', 'busybox', 'exec', 'command', 'nice', 'env']);

/** What an English-looking command takes when it is a command (`ip addr`, `init 0`, `service x stop`). */
const SUBCOMMANDS: Readonly<Record<string, (args: readonly string[]) => boolean>> = {
  ip: (args) => /^(?:a|addr|address|r|route|link|neigh|rule|tunnel|l)$/.test(args[0] ?? ''),
  init: (args) => /^[0-6s]$/.test(args[0] ?? ''),
  kill: (args) => /^-?\d{1,7}$/.test(args[0] ?? ''),
  service: (args) => args.length >= 2 && /^(?:stop|start|restart|reload|force-reload|status)$/.test(args[1]!),
  sv: (args) => /^(?:down|stop|kill|exit|force-stop|force-shutdown)$/.test(args[0] ?? ''),
  mount: (args) => /^(?:-o|--bind|-t)$/.test(args[0] ?? ''),
  net: (args) => /^(?:user|localgroup|share|stop|start|use|view|group|accounts)$/.test(args[0] ?? ''),
  sc: (args) => /^(?:create|config|stop|start|delete|query)$/.test(args[0] ?? ''),
  reg: (args) => /^(?:add|delete|query|save)$/.test(args[0] ?? ''),
  cmd: (args) => /^\/[ck]$/.test(args[0] ?? ''),
  shutdown: (args) => /^(?:-[hrp]|now|\/[srf])$/.test(args[0] ?? ''),
};

/** Field names that say the value is a command (`cmd`, `exec`, `run`, `shell`, `script`, `action_cmd`). */
const COMMAND_MEMBER = /(?:^|[_.-])(?:cmd|command|cmdline|exec|execute|run|shell|sh|bash|script|system)$/;

const SHELL_ARGUMENT =
  /^(?:-{1,2}[a-z0-9]|[/~]|\.{1,2}\/|[<>]|[a-z]{2,8}:\/\/|(?:if|of|bs)=|\*|\$|[a-z]:(?:$|[a-z/]))/;
/** An address as an argument (`ping 10.0.0.1`): a command's only where a command stands, not in prose ("ip 10.0.0.2"). */
const ADDRESS_ARGUMENT = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?$/;

interface Command {
  readonly name: string;
  readonly args: readonly string[];
}

/** The command a segment runs, past `sudo`-style prefixes and a path (`/usr/bin/x`, `x.exe`). */
function commandOf(segment: string): Command | null {
  // A shell comment ends the command: `halt #`, `reboot # x`.
  const comment = segment.search(/(?:^|\s)#/);
  const words = (comment === -1 ? segment : segment.slice(0, comment)).trim().split(/\s+/);
  let i = 0;
  while (i < words.length - 1 && (PREFIXES.has(words[i]!) || /^[a-z_]\w*=/.test(words[i]!))) {
    // `busybox httpd -p 8081`: an applet we do not list is still busybox running something.
    if (words[i] === 'busybox' && !COMMANDS.has(words[i + 1]!) && !WORD_COMMANDS.has(words[i + 1]!)) break;
    i += 1;
  }
  const name = commandName(words[i] ?? '');
  return name === null ? null : { name, args: words.slice(i + 1).filter((w) => w !== '') };
}

const SYSTEM_PATH = /^(?:\/(?:usr\/)?(?:local\/)?s?bin|\/etc\/init\.d)?\/[^/]+$/;

/** The command a word names (`/usr/bin/x` and `x.exe` name `x`), or null when it cannot name one. */
function commandName(word: string): string | null {
  let name = word;
  if (SYSTEM_PATH.test(name)) name = name.slice(name.lastIndexOf('/') + 1);
  if (name.endsWith('.exe')) name = name.slice(0, -4);
  return /^[a-z][\w.+-]{0,40}$/.test(name) ? name : null;
}

const FIRST_WORD = /^\s*(\S{1,60})/;

/** A cheap look at the first word before a segment is parsed: most segments of text start with prose. */
function mayRunCommand(segment: string): boolean {
  const first = FIRST_WORD.exec(segment)?.[1];
  if (first === undefined) return false;
  if (PREFIXES.has(first) || first.includes('=') || first.startsWith('$')) return true;
  const name = commandName(first);
  return name !== null && (COMMANDS.has(name) || WORD_COMMANDS.has(name));
}

function hasShellArguments(args: readonly string[], addresses = true): boolean {
  return args.some((arg) => SHELL_ARGUMENT.test(arg) || (addresses && ADDRESS_ARGUMENT.test(arg)));
}

type Separator = ';' | '|' | '||' | '&' | '&&' | '\n' | '`' | '$(' | ')';

interface Segment {
  readonly text: string;
  /** The separator before it; '' for the first. */
  readonly after: Separator | '';
  readonly offset: number;
}

/** Cuts text at the shell's separators: ; | || & && newline ` $( ). */
function segmentsOf(text: string): Segment[] {
  const segments: Segment[] = [];
  let start = 0;
  let after: Separator | '' = '';
  let i = 0;
  const push = (end: number, next: Separator, width: number) => {
    segments.push({ text: text.slice(start, end), after, offset: start });
    after = next;
    start = end + width;
    i = start;
  };
  while (i < text.length) {
    const c = text[i]!;
    const d = text[i + 1];
    if (c === ';' || c === '\n' || c === '\r' || c === '`' || c === ')')
      push(i, c === '\r' ? '\n' : (c as Separator), 1);
    else if (c === '|') push(i, d === '|' ? '||' : '|', d === '|' ? 2 : 1);
    else if (c === '&') push(i, d === '&' ? '&&' : '&', d === '&' ? 2 : 1);
    else if (c === '$' && d === '(') push(i, '$(', 2);
    else i += 1;
  }
  segments.push({ text: text.slice(start), after, offset: start });
  return segments;
}

/** Separators that only the shell writes: what follows them is a command whatever it looks like. */
const SHELL_ONLY: ReadonlySet<string> = new Set(['&&', '||', '`', '$(']);

/**
 * A bare data value (an address, a host or file name, an interface, a number) or nothing: where
 * injections start. A plain word is not one: `boot|service pump start|ok` is a status line.
 */
function isDataValue(text: string): boolean {
  const trimmed = text.trim();
  if (trimmed === '') return true;
  return (
    trimmed.length <= 100 && !/\s/.test(trimmed) && (/[\d.:/_-]/.test(trimmed) || trimmed === 'localhost')
  );
}

export interface ShellMatch {
  readonly shape: string;
  readonly offset: number;
}

function hasSubcommand(command: Command): boolean {
  return SUBCOMMANDS[command.name]?.(command.args) ?? false;
}

/** A first argument that makes a command an action (`ufw disable`, `nft flush`, `opkg install`). */
const ACTION_VERBS = new Set([
  'disable',
  'enable',
  'stop',
  'start',
  'restart',
  'reset',
  'flush',
  'install',
  'remove',
  'delete',
  'del',
  'add',
  'insert',
  'kill',
  'down',
  'up',
  'mask',
  'erase',
  'write',
  'set',
  'unset',
  'commit',
  'exec',
]);

interface Position {
  /** The separator before the command. */
  readonly after: Separator | '';
  /** No `|` follows: the command ends the value or the next one starts after ; & && || or a newline. */
  readonly last: boolean;
  /** What comes before the first separator is a bare data value. */
  readonly injected: boolean;
}

/** The command has the shape of one rather than of words: arguments a shell takes, or an action. */
function commandShape(command: Command): boolean {
  const { args } = command;
  const first = args[0] ?? '';
  return (
    hasShellArguments(args) ||
    hasSubcommand(command) ||
    ACTION_VERBS.has(first) ||
    /^[a-z-]{1,12}[:=]\S/.test(first)
  );
}

function commandCounts(command: Command, position: Position): boolean {
  const { name, args } = command;
  const { after, last, injected } = position;
  const alone = args.length === 0;
  const shaped = commandShape(command);
  const shellOnly = SHELL_ONLY.has(after);
  if (COMMANDS.has(name)) {
    if (shellOnly) return shaped || alone;
    if (injected) return shaped || (alone && last);
    return shaped;
  }
  if (WORD_COMMANDS.has(name)) {
    const subcommand = hasSubcommand(command);
    // `ip` is a command only with its object (`ip addr`): "ip 10.0.0.2" is how telemetry writes an address.
    const addresses = name !== 'ip';
    if (shellOnly) return subcommand || hasShellArguments(args, addresses) || alone;
    if (injected)
      return (
        subcommand || hasShellArguments(args, addresses) || (alone && last && ALONE_AFTER_DATA.has(name))
      );
    // In prose, maintenance text says "; service interval restart" and "; ip 10.0.0.2" too: only
    // shell arguments other than an address count.
    return after !== '\n' && hasShellArguments(args, false);
  }
  return false;
}

const escapeWord = (word: string) => word.replace(/[.+]/g, (c) => `\\${c}`);

/**
 * Some separator followed by a word of the vocabulary (or a prefix, an assignment, a variable):
 * without one, no segment after the first can count, and the text is not cut at all.
 */
const SEPARATOR_THEN_COMMAND = new RegExp(
  `(?:[;\\n\\r\`|&)]|\\$\\()\\s{0,10}(?:[\\w./-]{0,60}/)?(?:${[...COMMANDS, ...WORD_COMMANDS, ...PREFIXES]
    .sort((a, b) => b.length - a.length)
    .map(escapeWord)
    .join('|')})(?![\\w-])|(?:[;\\n\\r\`|&]|\\$\\()\\s{0,10}(?:[a-z_]\\w{0,30}=|\\$)`,
);

const MAX_COMMANDS = 64;

/** Detects OS command injection in normalised, shell-transformed text; `member` names the field. */
export function detectShellInjection(text: string, member?: string): ShellMatch | null {
  const named = member !== undefined && COMMAND_MEMBER.test(member.toLowerCase());
  if (!named && !SEPARATOR_THEN_COMMAND.test(text)) return null;
  const segments = segmentsOf(text);
  if (named) {
    const command = commandOf(segments[0]!.text);
    if (command) {
      const { name, args } = command;
      const line =
        (COMMANDS.has(name) && (args.length === 0 || commandShape(command))) ||
        (WORD_COMMANDS.has(name) && (hasShellArguments(args) || hasSubcommand(command))) ||
        (args.length === 0 && RECONNAISSANCE.has(name));
      if (line) return { shape: `command-field:${name}`, offset: 0 };
    }
  }
  if (segments.length === 1) return null;
  const injected = isDataValue(segments[0]!.text);
  const assigned = new Set<string>();
  let examined = 0;
  for (let i = 1; i < segments.length; i += 1) {
    const segment = segments[i]!;
    const trimmed = segment.text.trim();
    const assignment = /^([a-z_]\w{0,30})=\S/.exec(trimmed);
    if (assignment) assigned.add(assignment[1]!);
    const variable = /^\$\{?([a-z_]\w{0,30})\}?$/.exec(trimmed);
    if (variable && assigned.has(variable[1]!)) return { shape: 'variable-run', offset: segment.offset };
    if (!mayRunCommand(segment.text)) continue;
    // More commands than any status line or log carries is itself the finding, and keeps a flood
    // of them (`1;cat 1;cat ...`) from costing a parse each.
    if (assignment === null && !trimmed.startsWith('$')) examined += 1;
    if (examined > MAX_COMMANDS) return { shape: 'command-flood', offset: segment.offset };
    const command = commandOf(segment.text);
    const next = segments[i + 1]?.after;
    const position = { after: segment.after, last: next !== '|', injected };
    if (command && commandCounts(command, position))
      return {
        shape: `${injected ? 'after-value' : 'after-separator'}:${command.name}`,
        offset: segment.offset,
      };
  }
  return null;
}
