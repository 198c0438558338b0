import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import {
  Kafka,
  KafkaNodePool,
  KafkaTopic,
  KafkaUser,
} from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';

/**
 * Offline schema validation of the manifests, the check kubeconform does with downloaded schemas:
 * the `kubernetes-models` packages carry the Kubernetes 1.3x OpenAPI definitions and the Strimzi and
 * cert-manager CRDs' openAPIV3Schema, compiled to ajv validators (types, enums, formats, required
 * fields, integer ranges). Nothing is fetched at test time, so CI needs only `npm ci`.
 * What they do not refuse: unknown fields (the upstream schemas allow them; the API server's strict
 * field validation would), which the structural checks of deploy-manifests.test.ts cover for the
 * fields Sentinel depends on.
 */
interface Validating {
  validate(): void;
}
type ModelClass = new (data: never) => Validating;

const models: Readonly<Record<string, ModelClass>> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'kafka.strimzi.io/v1beta2/Kafka': Kafka,
  'kafka.strimzi.io/v1beta2/KafkaNodePool': KafkaNodePool,
  'kafka.strimzi.io/v1beta2/KafkaTopic': KafkaTopic,
  'kafka.strimzi.io/v1beta2/KafkaUser': KafkaUser,
  'cert-manager.io/v1/Certificate': Certificate,
};

/** The kinds this validator has a schema for, as `apiVersion/kind`. */
export const schemaKinds: readonly string[] = Object.keys(models);

/**
 * The schema violations of one object (empty when it is valid), each as `path message` the way
 * ajv reports them; an apiVersion/kind without a schema here is itself a violation, so a new kind
 * cannot slip past unvalidated.
 */
export function schemaViolations(doc: Readonly<Record<string, unknown>>): string[] {
  const key = `${String(doc.apiVersion)}/${String(doc.kind)}`;
  const Model = models[key];
  if (!Model) return [`no schema for ${key} (add its model to scripts/deploy/kube-schemas.ts)`];
  try {
    // The model copies the document and sets apiVersion/kind from its class, which match here.
    new Model(structuredClone(doc) as never).validate();
    return [];
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return message.split(/,\s(?=data[/ ])/).map((line) => line.replace(/^data/, ''));
  }
}
