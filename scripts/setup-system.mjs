// The one set-up step for what MQTT Sentinel needs from the system (Debian packages), run by
// `npm ci` (preinstall: the Kafka client's build needs the -dev libraries), by `npm start` and by
// `.ci/run`. Idempotent: it installs only what is missing, and says what and why. Where it cannot
// install (not root, no apt-get) it prints the exact command to run instead.
//
//   node scripts/setup-system.mjs [--for install|platform|tests] [--check]
//
//   --for install   what `npm ci` needs (its preinstall): the Kafka client's build tools and libraries
//   --for platform  (default) also what `npm start` runs: Mosquitto, Java, Maven; Prometheus and the
//                   Redis exporter are optional: missing, the platform runs without metrics and says so
//   --for tests     also what the test suite and the demo's checks use (.ci/run)
//   --check         report only, install nothing
//
// Exit codes: 0 = everything required is present (optional parts may be missing, with a warning),
// 2 = something required is missing and could not be installed here (the command to run is printed),
// 1 = apt-get failed.
//
// Plain Node ESM with no dependencies: it runs before `npm ci` has installed anything, on the
// machine's own Node.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * What the platform uses from the system, and why. `commands`: present when every one is on PATH;
 * otherwise the package counts as present when dpkg says it is installed (a -dev library has no
 * command, and librdkafka's configure silently leaves out what its headers do not show).
 */
const parts = [
  {
    pkg: 'mosquitto',
    commands: ['mosquitto'],
    why: 'the local origin broker (sentinel stack up)',
    for: 'platform',
  },
  {
    pkg: 'mosquitto-clients',
    commands: ['mosquitto_pub', 'mosquitto_sub'],
    why: "the README's walk and the demo scripts",
    for: 'platform',
  },
  {
    pkg: 'openjdk-17-jdk-headless',
    commands: ['java'],
    why: 'the three Kafka brokers and the schema registry',
    for: 'platform',
  },
  {
    pkg: 'maven',
    commands: ['mvn'],
    why: 'fetches Kafka and Apicurio from Maven Central (deploy/local/pom.xml)',
    for: 'platform',
  },
  {
    pkg: 'build-essential',
    commands: ['cc', 'c++', 'make'],
    why: 'compiles the Kafka client (librdkafka) at npm ci',
    for: 'install',
  },
  { pkg: 'python3', commands: ['python3'], why: "node-gyp, the Kafka client's build", for: 'install' },
  {
    pkg: 'pkg-config',
    commands: ['pkg-config'],
    why: "librdkafka's configure finds its libraries with it",
    for: 'install',
  },
  { pkg: 'libssl-dev', why: 'TLS to the brokers (librdkafka)', for: 'install' },
  { pkg: 'zlib1g-dev', why: 'gzip compression (librdkafka)', for: 'install' },
  { pkg: 'libzstd-dev', why: 'zstd compression (librdkafka)', for: 'install' },
  { pkg: 'libsasl2-dev', why: 'SASL/SCRAM to the brokers (librdkafka)', for: 'install' },
  { pkg: 'liblz4-dev', why: 'lz4 compression (librdkafka)', for: 'install' },
  { pkg: 'curl', commands: ['curl'], why: 'the demo scripts', for: 'platform' },
  {
    pkg: 'prometheus',
    commands: ['prometheus', 'promtool'],
    why: 'metrics behind the dashboards and alerts (optional: the platform runs without)',
    for: 'platform',
    optional: true,
  },
  {
    pkg: 'prometheus-redis-exporter',
    commands: ['prometheus-redis-exporter'],
    why: 'the Redis panel of the dashboards (optional: the platform runs without)',
    for: 'platform',
    optional: true,
  },
  {
    pkg: 'nginx',
    commands: ['nginx'],
    why: "the L7 hop in front of the origin's WebSocket in the bridge tests",
    for: 'tests',
  },
  { pkg: 'shellcheck', commands: ['shellcheck'], why: 'checks the demo scripts', for: 'tests' },
  { pkg: 'python3-locust', commands: ['locust'], why: "the demo's Locust fan-out load test", for: 'tests' },
  {
    pkg: 'python3-paho-mqtt',
    python: 'paho.mqtt',
    why: "the demo's Python device and the interop checks",
    for: 'tests',
  },
  {
    pkg: 'chromium',
    commands: ['chromium'],
    // playwright-core drives it over its DevTools pipe: no chromium-driver, no Playwright download.
    why: "the console's browser tests (playwright-core drives Debian's Chromium)",
    for: 'tests',
  },
  {
    pkg: 'docker-compose',
    commands: ['docker-compose'],
    why: 'validates deploy/compose/compose.yaml (no engine needed)',
    for: 'tests',
  },
];

/**
 * Apicurio Registry 3.3 needs Java 21+, which Debian 12 does not package: a JDK of that line must
 * come from elsewhere (Temurin, a backport). Found the way platform/java.ts finds it.
 */
function newestJavaMajor() {
  const candidates = [];
  if (process.env.JAVA_HOME) candidates.push(`${process.env.JAVA_HOME}/bin/java`);
  const jvm = spawnSync('sh', ['-c', 'ls -d /usr/lib/jvm/*/bin/java 2>/dev/null'], { encoding: 'utf8' });
  candidates.push(...(jvm.stdout ?? '').split('\n').filter(Boolean), 'java');
  let newest = 0;
  for (const java of candidates) {
    const out = spawnSync(java, ['-version'], { encoding: 'utf8' });
    const match = /version "(\d+)(?:\.(\d+))?/.exec(`${out.stderr ?? ''}${out.stdout ?? ''}`);
    if (!match) continue;
    const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
    newest = Math.max(newest, major);
  }
  return newest;
}

const args = process.argv.slice(2);
const scope = args.includes('--for') ? args[args.indexOf('--for') + 1] : 'platform';
const scopes = ['install', 'platform', 'tests'];
if (!scopes.includes(scope)) {
  console.error(`setup: --for must be one of ${scopes.join(', ')}, not ${scope}`);
  process.exit(2);
}
const checkOnly = args.includes('--check');
const say = (line) => console.log(`setup: ${line}`);

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Installed packages among `names`, in one dpkg-query call. */
function installedPackages(names) {
  if (names.length === 0 || !onPath('dpkg-query')) return new Set();
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${...} is dpkg-query's field syntax
  const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...names], {
    encoding: 'utf8',
  });
  return new Set(
    (result.stdout ?? '')
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name.split(':')[0]),
  );
}

function present(part, installed) {
  // Debian's module is for Debian's interpreter, whatever python3 comes first on PATH (pyenv...).
  if (part.python)
    return spawnSync('/usr/bin/python3', ['-c', `import ${part.python}`], { stdio: 'ignore' }).status === 0;
  if (part.commands) return part.commands.every(onPath);
  return installed.has(part.pkg);
}

// Each scope includes the ones before it.
const wanted = parts.filter((p) => scopes.indexOf(p.for) <= scopes.indexOf(scope));
const installed = installedPackages(wanted.filter((p) => !p.commands && !p.python).map((p) => p.pkg));
const missing = wanted.filter((p) => !present(p, installed));
if (scopes.indexOf(scope) >= 1 && newestJavaMajor() < 21) {
  say(
    'missing a Java 21 or newer: the schema registry (Apicurio 3.3) needs it, and Debian 12 packages only 17',
  );
  say('install one (e.g. Eclipse Temurin 21 or 25 under /usr/lib/jvm), or point JAVA_HOME at it');
  if (!checkOnly) process.exit(2);
}
if (missing.length === 0) {
  const what = {
    install: '`npm ci` needs',
    platform: 'the platform needs',
    tests: 'the platform and its tests need',
  };
  say(`every system package ${what[scope]} is present; nothing to install`);
  process.exit(0);
}

// A test suite or CI installs what the platform leaves optional: its tests check the metrics too.
const required = missing.filter((p) => !p.optional || scope === 'tests');
const optional = missing.filter((p) => p.optional && scope !== 'tests');
const packages = [...new Set(missing.map((p) => p.pkg))];
for (const part of missing) say(`missing ${part.pkg}: ${part.why}`);
const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const canInstall = isRoot && onPath('apt-get') && existsSync('/etc/debian_version');

if (checkOnly || !canInstall) {
  const why = checkOnly ? 'check only' : !isRoot ? 'not root' : 'not a Debian system with apt-get';
  say(`not installing (${why}); run:`);
  console.log(
    `  ${isRoot ? '' : 'sudo '}${command.replace('&& apt-get', `&& ${isRoot ? '' : 'sudo '}apt-get`)}`,
  );
  if (optional.length > 0 && required.length === 0) {
    say(
      `warning: without ${optional.map((p) => p.pkg).join(' and ')} the platform runs without those metrics`,
    );
    process.exit(0);
  }
  process.exit(2);
}

say(`installing ${packages.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const step of [
  ['apt-get', ['update', '-qq']],
  ['apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages]],
]) {
  const result = spawnSync(step[0], step[1], { stdio: 'inherit', env });
  if (result.status !== 0) {
    say(`${step[0]} ${step[1].join(' ')} failed (exit ${result.status}); run by hand: ${command}`);
    // Optional parts never stop the platform: it runs without their metrics, and says so.
    if (required.length === 0) {
      say(
        `warning: without ${optional.map((p) => p.pkg).join(' and ')} the platform runs without those metrics`,
      );
      process.exit(0);
    }
    process.exit(1);
  }
}
const still = wanted.filter((p) => !present(p, installedPackages([p.pkg])));
if (still.length > 0) {
  say(`still missing after the install: ${still.map((p) => p.pkg).join(', ')}`);
  process.exit(still.some((p) => !p.optional || scope === 'tests') ? 1 : 0);
}
say(`installed ${packages.join(' ')}`);
