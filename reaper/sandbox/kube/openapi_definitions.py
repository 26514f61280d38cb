# ruff: noqa: E501  (generated data: some $ref strings are longer than a line)
"""The OpenAPI v2 definitions the fake serves at ``/openapi/v2``. Data only.

Taken from Kubernetes' own ``api/openapi-spec/swagger.json`` at release-1.32 (the version
the fake reports), as the Kubernetes Python client v32.0.1 ships it
(``kubernetes/swagger.json.unprocessed``), Apache-2.0. Kept: the definitions that carry an
``x-kubernetes-group-version-kind`` of a kind the fake serves (Namespace, Service,
Deployment, StatefulSet, CronJob, NetworkPolicy, Lease), of their ``...List`` kinds and of
``autoscaling/v1`` Scale, and every definition these reach through ``$ref``; dropped: the
``description`` of every schema (kubectl's validation and patching do not read them).
Everything else (types, formats, ``required``, the ``x-kubernetes-*`` extensions) is as
upstream has it.

To regenerate, take that file's ``definitions``, follow ``$ref`` from those roots and drop
the ``description`` keys; ``tests/sandbox/test_kube_fake_units.py`` checks that every
``$ref`` resolves and that every served kind has its definition.
"""

from typing import Any, Final

DEFINITIONS: Final[dict[str, dict[str, Any]]] = {
    "io.k8s.api.apps.v1.Deployment": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"},
            "status": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentStatus"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "apps", "kind": "Deployment", "version": "v1"}
        ],
    },
    "io.k8s.api.apps.v1.DeploymentCondition": {
        "properties": {
            "lastTransitionTime": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
            "lastUpdateTime": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
            "message": {"type": "string"},
            "reason": {"type": "string"},
            "status": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["type", "status"],
        "type": "object",
    },
    "io.k8s.api.apps.v1.DeploymentList": {
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"},
                "type": "array",
            },
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "apps", "kind": "DeploymentList", "version": "v1"}
        ],
    },
    "io.k8s.api.apps.v1.DeploymentSpec": {
        "properties": {
            "minReadySeconds": {"format": "int32", "type": "integer"},
            "paused": {"type": "boolean"},
            "progressDeadlineSeconds": {"format": "int32", "type": "integer"},
            "replicas": {"format": "int32", "type": "integer"},
            "revisionHistoryLimit": {"format": "int32", "type": "integer"},
            "selector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "strategy": {
                "$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy",
                "x-kubernetes-patch-strategy": "retainKeys",
            },
            "template": {"$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"},
        },
        "required": ["selector", "template"],
        "type": "object",
    },
    "io.k8s.api.apps.v1.DeploymentStatus": {
        "properties": {
            "availableReplicas": {"format": "int32", "type": "integer"},
            "collisionCount": {"format": "int32", "type": "integer"},
            "conditions": {
                "items": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentCondition"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["type"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "type",
                "x-kubernetes-patch-strategy": "merge",
            },
            "observedGeneration": {"format": "int64", "type": "integer"},
            "readyReplicas": {"format": "int32", "type": "integer"},
            "replicas": {"format": "int32", "type": "integer"},
            "unavailableReplicas": {"format": "int32", "type": "integer"},
            "updatedReplicas": {"format": "int32", "type": "integer"},
        },
        "type": "object",
    },
    "io.k8s.api.apps.v1.DeploymentStrategy": {
        "properties": {
            "rollingUpdate": {"$ref": "#/definitions/io.k8s.api.apps.v1.RollingUpdateDeployment"},
            "type": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.apps.v1.RollingUpdateDeployment": {
        "properties": {
            "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
            "maxUnavailable": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"
            },
        },
        "type": "object",
    },
    "io.k8s.api.apps.v1.RollingUpdateStatefulSetStrategy": {
        "properties": {
            "maxUnavailable": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"
            },
            "partition": {"format": "int32", "type": "integer"},
        },
        "type": "object",
    },
    "io.k8s.api.apps.v1.StatefulSet": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.StatefulSetSpec"},
            "status": {"$ref": "#/definitions/io.k8s.api.apps.v1.StatefulSetStatus"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "apps", "kind": "StatefulSet", "version": "v1"}
        ],
    },
    "io.k8s.api.apps.v1.StatefulSetCondition": {
        "properties": {
            "lastTransitionTime": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
            "message": {"type": "string"},
            "reason": {"type": "string"},
            "status": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["type", "status"],
        "type": "object",
    },
    "io.k8s.api.apps.v1.StatefulSetList": {
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.apps.v1.StatefulSet"},
                "type": "array",
            },
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "apps", "kind": "StatefulSetList", "version": "v1"}
        ],
    },
    "io.k8s.api.apps.v1.StatefulSetOrdinals": {
        "properties": {"start": {"format": "int32", "type": "integer"}},
        "type": "object",
    },
    "io.k8s.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy": {
        "properties": {"whenDeleted": {"type": "string"}, "whenScaled": {"type": "string"}},
        "type": "object",
    },
    "io.k8s.api.apps.v1.StatefulSetSpec": {
        "properties": {
            "minReadySeconds": {"format": "int32", "type": "integer"},
            "ordinals": {"$ref": "#/definitions/io.k8s.api.apps.v1.StatefulSetOrdinals"},
            "persistentVolumeClaimRetentionPolicy": {
                "$ref": "#/definitions/io.k8s.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy"
            },
            "podManagementPolicy": {"type": "string"},
            "replicas": {"format": "int32", "type": "integer"},
            "revisionHistoryLimit": {"format": "int32", "type": "integer"},
            "selector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "serviceName": {"type": "string"},
            "template": {"$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"},
            "updateStrategy": {
                "$ref": "#/definitions/io.k8s.api.apps.v1.StatefulSetUpdateStrategy"
            },
            "volumeClaimTemplates": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaim"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "required": ["selector", "template", "serviceName"],
        "type": "object",
    },
    "io.k8s.api.apps.v1.StatefulSetStatus": {
        "properties": {
            "availableReplicas": {"format": "int32", "type": "integer"},
            "collisionCount": {"format": "int32", "type": "integer"},
            "conditions": {
                "items": {"$ref": "#/definitions/io.k8s.api.apps.v1.StatefulSetCondition"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["type"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "type",
                "x-kubernetes-patch-strategy": "merge",
            },
            "currentReplicas": {"format": "int32", "type": "integer"},
            "currentRevision": {"type": "string"},
            "observedGeneration": {"format": "int64", "type": "integer"},
            "readyReplicas": {"format": "int32", "type": "integer"},
            "replicas": {"format": "int32", "type": "integer"},
            "updateRevision": {"type": "string"},
            "updatedReplicas": {"format": "int32", "type": "integer"},
        },
        "required": ["replicas"],
        "type": "object",
    },
    "io.k8s.api.apps.v1.StatefulSetUpdateStrategy": {
        "properties": {
            "rollingUpdate": {
                "$ref": "#/definitions/io.k8s.api.apps.v1.RollingUpdateStatefulSetStrategy"
            },
            "type": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.autoscaling.v1.Scale": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.autoscaling.v1.ScaleSpec"},
            "status": {"$ref": "#/definitions/io.k8s.api.autoscaling.v1.ScaleStatus"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "autoscaling", "kind": "Scale", "version": "v1"}
        ],
    },
    "io.k8s.api.autoscaling.v1.ScaleSpec": {
        "properties": {"replicas": {"format": "int32", "type": "integer"}},
        "type": "object",
    },
    "io.k8s.api.autoscaling.v1.ScaleStatus": {
        "properties": {
            "replicas": {"format": "int32", "type": "integer"},
            "selector": {"type": "string"},
        },
        "required": ["replicas"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.CronJob": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.batch.v1.CronJobSpec"},
            "status": {"$ref": "#/definitions/io.k8s.api.batch.v1.CronJobStatus"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "batch", "kind": "CronJob", "version": "v1"}],
    },
    "io.k8s.api.batch.v1.CronJobList": {
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.batch.v1.CronJob"},
                "type": "array",
            },
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "batch", "kind": "CronJobList", "version": "v1"}
        ],
    },
    "io.k8s.api.batch.v1.CronJobSpec": {
        "properties": {
            "concurrencyPolicy": {"type": "string"},
            "failedJobsHistoryLimit": {"format": "int32", "type": "integer"},
            "jobTemplate": {"$ref": "#/definitions/io.k8s.api.batch.v1.JobTemplateSpec"},
            "schedule": {"type": "string"},
            "startingDeadlineSeconds": {"format": "int64", "type": "integer"},
            "successfulJobsHistoryLimit": {"format": "int32", "type": "integer"},
            "suspend": {"type": "boolean"},
            "timeZone": {"type": "string"},
        },
        "required": ["schedule", "jobTemplate"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.CronJobStatus": {
        "properties": {
            "active": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ObjectReference"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "lastScheduleTime": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
            "lastSuccessfulTime": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
        },
        "type": "object",
    },
    "io.k8s.api.batch.v1.JobSpec": {
        "properties": {
            "activeDeadlineSeconds": {"format": "int64", "type": "integer"},
            "backoffLimit": {"format": "int32", "type": "integer"},
            "backoffLimitPerIndex": {"format": "int32", "type": "integer"},
            "completionMode": {"type": "string"},
            "completions": {"format": "int32", "type": "integer"},
            "managedBy": {"type": "string"},
            "manualSelector": {"type": "boolean"},
            "maxFailedIndexes": {"format": "int32", "type": "integer"},
            "parallelism": {"format": "int32", "type": "integer"},
            "podFailurePolicy": {"$ref": "#/definitions/io.k8s.api.batch.v1.PodFailurePolicy"},
            "podReplacementPolicy": {"type": "string"},
            "selector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "successPolicy": {"$ref": "#/definitions/io.k8s.api.batch.v1.SuccessPolicy"},
            "suspend": {"type": "boolean"},
            "template": {"$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"},
            "ttlSecondsAfterFinished": {"format": "int32", "type": "integer"},
        },
        "required": ["template"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.JobTemplateSpec": {
        "properties": {
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.batch.v1.JobSpec"},
        },
        "type": "object",
    },
    "io.k8s.api.batch.v1.PodFailurePolicy": {
        "properties": {
            "rules": {
                "items": {"$ref": "#/definitions/io.k8s.api.batch.v1.PodFailurePolicyRule"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            }
        },
        "required": ["rules"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement": {
        "properties": {
            "containerName": {"type": "string"},
            "operator": {"type": "string"},
            "values": {
                "items": {"format": "int32", "type": "integer"},
                "type": "array",
                "x-kubernetes-list-type": "set",
            },
        },
        "required": ["operator", "values"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern": {
        "properties": {"status": {"type": "string"}, "type": {"type": "string"}},
        "required": ["type", "status"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.PodFailurePolicyRule": {
        "properties": {
            "action": {"type": "string"},
            "onExitCodes": {
                "$ref": "#/definitions/io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement"
            },
            "onPodConditions": {
                "items": {
                    "$ref": "#/definitions/io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern"
                },
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "required": ["action"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.SuccessPolicy": {
        "properties": {
            "rules": {
                "items": {"$ref": "#/definitions/io.k8s.api.batch.v1.SuccessPolicyRule"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            }
        },
        "required": ["rules"],
        "type": "object",
    },
    "io.k8s.api.batch.v1.SuccessPolicyRule": {
        "properties": {
            "succeededCount": {"format": "int32", "type": "integer"},
            "succeededIndexes": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.coordination.v1.Lease": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.coordination.v1.LeaseSpec"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "coordination.k8s.io", "kind": "Lease", "version": "v1"}
        ],
    },
    "io.k8s.api.coordination.v1.LeaseList": {
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.coordination.v1.Lease"},
                "type": "array",
            },
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "coordination.k8s.io", "kind": "LeaseList", "version": "v1"}
        ],
    },
    "io.k8s.api.coordination.v1.LeaseSpec": {
        "properties": {
            "acquireTime": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"},
            "holderIdentity": {"type": "string"},
            "leaseDurationSeconds": {"format": "int32", "type": "integer"},
            "leaseTransitions": {"format": "int32", "type": "integer"},
            "preferredHolder": {"type": "string"},
            "renewTime": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"},
            "strategy": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.AWSElasticBlockStoreVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "partition": {"format": "int32", "type": "integer"},
            "readOnly": {"type": "boolean"},
            "volumeID": {"type": "string"},
        },
        "required": ["volumeID"],
        "type": "object",
    },
    "io.k8s.api.core.v1.Affinity": {
        "properties": {
            "nodeAffinity": {"$ref": "#/definitions/io.k8s.api.core.v1.NodeAffinity"},
            "podAffinity": {"$ref": "#/definitions/io.k8s.api.core.v1.PodAffinity"},
            "podAntiAffinity": {"$ref": "#/definitions/io.k8s.api.core.v1.PodAntiAffinity"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.AppArmorProfile": {
        "properties": {"localhostProfile": {"type": "string"}, "type": {"type": "string"}},
        "required": ["type"],
        "type": "object",
        "x-kubernetes-unions": [
            {
                "discriminator": "type",
                "fields-to-discriminateBy": {"localhostProfile": "LocalhostProfile"},
            }
        ],
    },
    "io.k8s.api.core.v1.AzureDiskVolumeSource": {
        "properties": {
            "cachingMode": {"type": "string"},
            "diskName": {"type": "string"},
            "diskURI": {"type": "string"},
            "fsType": {"type": "string"},
            "kind": {"type": "string"},
            "readOnly": {"type": "boolean"},
        },
        "required": ["diskName", "diskURI"],
        "type": "object",
    },
    "io.k8s.api.core.v1.AzureFileVolumeSource": {
        "properties": {
            "readOnly": {"type": "boolean"},
            "secretName": {"type": "string"},
            "shareName": {"type": "string"},
        },
        "required": ["secretName", "shareName"],
        "type": "object",
    },
    "io.k8s.api.core.v1.CSIVolumeSource": {
        "properties": {
            "driver": {"type": "string"},
            "fsType": {"type": "string"},
            "nodePublishSecretRef": {
                "$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"
            },
            "readOnly": {"type": "boolean"},
            "volumeAttributes": {"additionalProperties": {"type": "string"}, "type": "object"},
        },
        "required": ["driver"],
        "type": "object",
    },
    "io.k8s.api.core.v1.Capabilities": {
        "properties": {
            "add": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "drop": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.CephFSVolumeSource": {
        "properties": {
            "monitors": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "path": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "secretFile": {"type": "string"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
            "user": {"type": "string"},
        },
        "required": ["monitors"],
        "type": "object",
    },
    "io.k8s.api.core.v1.CinderVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
            "volumeID": {"type": "string"},
        },
        "required": ["volumeID"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ClientIPConfig": {
        "properties": {"timeoutSeconds": {"format": "int32", "type": "integer"}},
        "type": "object",
    },
    "io.k8s.api.core.v1.ClusterTrustBundleProjection": {
        "properties": {
            "labelSelector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "name": {"type": "string"},
            "optional": {"type": "boolean"},
            "path": {"type": "string"},
            "signerName": {"type": "string"},
        },
        "required": ["path"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ConfigMapEnvSource": {
        "properties": {"name": {"type": "string"}, "optional": {"type": "boolean"}},
        "type": "object",
    },
    "io.k8s.api.core.v1.ConfigMapKeySelector": {
        "properties": {
            "key": {"type": "string"},
            "name": {"type": "string"},
            "optional": {"type": "boolean"},
        },
        "required": ["key"],
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.ConfigMapProjection": {
        "properties": {
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.KeyToPath"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "name": {"type": "string"},
            "optional": {"type": "boolean"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.ConfigMapVolumeSource": {
        "properties": {
            "defaultMode": {"format": "int32", "type": "integer"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.KeyToPath"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "name": {"type": "string"},
            "optional": {"type": "boolean"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.Container": {
        "properties": {
            "args": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "command": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "env": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.EnvVar"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "envFrom": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.EnvFromSource"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "image": {"type": "string"},
            "imagePullPolicy": {"type": "string"},
            "lifecycle": {"$ref": "#/definitions/io.k8s.api.core.v1.Lifecycle"},
            "livenessProbe": {"$ref": "#/definitions/io.k8s.api.core.v1.Probe"},
            "name": {"type": "string"},
            "ports": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ContainerPort"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "containerPort",
                "x-kubernetes-patch-strategy": "merge",
            },
            "readinessProbe": {"$ref": "#/definitions/io.k8s.api.core.v1.Probe"},
            "resizePolicy": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ContainerResizePolicy"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "resources": {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceRequirements"},
            "restartPolicy": {"type": "string"},
            "securityContext": {"$ref": "#/definitions/io.k8s.api.core.v1.SecurityContext"},
            "startupProbe": {"$ref": "#/definitions/io.k8s.api.core.v1.Probe"},
            "stdin": {"type": "boolean"},
            "stdinOnce": {"type": "boolean"},
            "terminationMessagePath": {"type": "string"},
            "terminationMessagePolicy": {"type": "string"},
            "tty": {"type": "boolean"},
            "volumeDevices": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.VolumeDevice"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["devicePath"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "devicePath",
                "x-kubernetes-patch-strategy": "merge",
            },
            "volumeMounts": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.VolumeMount"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["mountPath"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "mountPath",
                "x-kubernetes-patch-strategy": "merge",
            },
            "workingDir": {"type": "string"},
        },
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ContainerPort": {
        "properties": {
            "containerPort": {"format": "int32", "type": "integer"},
            "hostIP": {"type": "string"},
            "hostPort": {"format": "int32", "type": "integer"},
            "name": {"type": "string"},
            "protocol": {"type": "string"},
        },
        "required": ["containerPort"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ContainerResizePolicy": {
        "properties": {"resourceName": {"type": "string"}, "restartPolicy": {"type": "string"}},
        "required": ["resourceName", "restartPolicy"],
        "type": "object",
    },
    "io.k8s.api.core.v1.DownwardAPIProjection": {
        "properties": {
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.DownwardAPIVolumeFile"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            }
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.DownwardAPIVolumeFile": {
        "properties": {
            "fieldRef": {"$ref": "#/definitions/io.k8s.api.core.v1.ObjectFieldSelector"},
            "mode": {"format": "int32", "type": "integer"},
            "path": {"type": "string"},
            "resourceFieldRef": {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceFieldSelector"},
        },
        "required": ["path"],
        "type": "object",
    },
    "io.k8s.api.core.v1.DownwardAPIVolumeSource": {
        "properties": {
            "defaultMode": {"format": "int32", "type": "integer"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.DownwardAPIVolumeFile"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.EmptyDirVolumeSource": {
        "properties": {
            "medium": {"type": "string"},
            "sizeLimit": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.EnvFromSource": {
        "properties": {
            "configMapRef": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMapEnvSource"},
            "prefix": {"type": "string"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.SecretEnvSource"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.EnvVar": {
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "valueFrom": {"$ref": "#/definitions/io.k8s.api.core.v1.EnvVarSource"},
        },
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.EnvVarSource": {
        "properties": {
            "configMapKeyRef": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMapKeySelector"},
            "fieldRef": {"$ref": "#/definitions/io.k8s.api.core.v1.ObjectFieldSelector"},
            "resourceFieldRef": {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceFieldSelector"},
            "secretKeyRef": {"$ref": "#/definitions/io.k8s.api.core.v1.SecretKeySelector"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.EphemeralContainer": {
        "properties": {
            "args": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "command": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "env": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.EnvVar"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "envFrom": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.EnvFromSource"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "image": {"type": "string"},
            "imagePullPolicy": {"type": "string"},
            "lifecycle": {"$ref": "#/definitions/io.k8s.api.core.v1.Lifecycle"},
            "livenessProbe": {"$ref": "#/definitions/io.k8s.api.core.v1.Probe"},
            "name": {"type": "string"},
            "ports": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ContainerPort"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "containerPort",
                "x-kubernetes-patch-strategy": "merge",
            },
            "readinessProbe": {"$ref": "#/definitions/io.k8s.api.core.v1.Probe"},
            "resizePolicy": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ContainerResizePolicy"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "resources": {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceRequirements"},
            "restartPolicy": {"type": "string"},
            "securityContext": {"$ref": "#/definitions/io.k8s.api.core.v1.SecurityContext"},
            "startupProbe": {"$ref": "#/definitions/io.k8s.api.core.v1.Probe"},
            "stdin": {"type": "boolean"},
            "stdinOnce": {"type": "boolean"},
            "targetContainerName": {"type": "string"},
            "terminationMessagePath": {"type": "string"},
            "terminationMessagePolicy": {"type": "string"},
            "tty": {"type": "boolean"},
            "volumeDevices": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.VolumeDevice"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["devicePath"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "devicePath",
                "x-kubernetes-patch-strategy": "merge",
            },
            "volumeMounts": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.VolumeMount"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["mountPath"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "mountPath",
                "x-kubernetes-patch-strategy": "merge",
            },
            "workingDir": {"type": "string"},
        },
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.EphemeralVolumeSource": {
        "properties": {
            "volumeClaimTemplate": {
                "$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaimTemplate"
            }
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.ExecAction": {
        "properties": {
            "command": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            }
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.FCVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "lun": {"format": "int32", "type": "integer"},
            "readOnly": {"type": "boolean"},
            "targetWWNs": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "wwids": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.FlexVolumeSource": {
        "properties": {
            "driver": {"type": "string"},
            "fsType": {"type": "string"},
            "options": {"additionalProperties": {"type": "string"}, "type": "object"},
            "readOnly": {"type": "boolean"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
        },
        "required": ["driver"],
        "type": "object",
    },
    "io.k8s.api.core.v1.FlockerVolumeSource": {
        "properties": {"datasetName": {"type": "string"}, "datasetUUID": {"type": "string"}},
        "type": "object",
    },
    "io.k8s.api.core.v1.GCEPersistentDiskVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "partition": {"format": "int32", "type": "integer"},
            "pdName": {"type": "string"},
            "readOnly": {"type": "boolean"},
        },
        "required": ["pdName"],
        "type": "object",
    },
    "io.k8s.api.core.v1.GRPCAction": {
        "properties": {
            "port": {"format": "int32", "type": "integer"},
            "service": {"type": "string"},
        },
        "required": ["port"],
        "type": "object",
    },
    "io.k8s.api.core.v1.GitRepoVolumeSource": {
        "properties": {
            "directory": {"type": "string"},
            "repository": {"type": "string"},
            "revision": {"type": "string"},
        },
        "required": ["repository"],
        "type": "object",
    },
    "io.k8s.api.core.v1.GlusterfsVolumeSource": {
        "properties": {
            "endpoints": {"type": "string"},
            "path": {"type": "string"},
            "readOnly": {"type": "boolean"},
        },
        "required": ["endpoints", "path"],
        "type": "object",
    },
    "io.k8s.api.core.v1.HTTPGetAction": {
        "properties": {
            "host": {"type": "string"},
            "httpHeaders": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.HTTPHeader"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "path": {"type": "string"},
            "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
            "scheme": {"type": "string"},
        },
        "required": ["port"],
        "type": "object",
    },
    "io.k8s.api.core.v1.HTTPHeader": {
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
        "required": ["name", "value"],
        "type": "object",
    },
    "io.k8s.api.core.v1.HostAlias": {
        "properties": {
            "hostnames": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "ip": {"type": "string"},
        },
        "required": ["ip"],
        "type": "object",
    },
    "io.k8s.api.core.v1.HostPathVolumeSource": {
        "properties": {"path": {"type": "string"}, "type": {"type": "string"}},
        "required": ["path"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ISCSIVolumeSource": {
        "properties": {
            "chapAuthDiscovery": {"type": "boolean"},
            "chapAuthSession": {"type": "boolean"},
            "fsType": {"type": "string"},
            "initiatorName": {"type": "string"},
            "iqn": {"type": "string"},
            "iscsiInterface": {"type": "string"},
            "lun": {"format": "int32", "type": "integer"},
            "portals": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "readOnly": {"type": "boolean"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
            "targetPortal": {"type": "string"},
        },
        "required": ["targetPortal", "iqn", "lun"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ImageVolumeSource": {
        "properties": {"pullPolicy": {"type": "string"}, "reference": {"type": "string"}},
        "type": "object",
    },
    "io.k8s.api.core.v1.KeyToPath": {
        "properties": {
            "key": {"type": "string"},
            "mode": {"format": "int32", "type": "integer"},
            "path": {"type": "string"},
        },
        "required": ["key", "path"],
        "type": "object",
    },
    "io.k8s.api.core.v1.Lifecycle": {
        "properties": {
            "postStart": {"$ref": "#/definitions/io.k8s.api.core.v1.LifecycleHandler"},
            "preStop": {"$ref": "#/definitions/io.k8s.api.core.v1.LifecycleHandler"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.LifecycleHandler": {
        "properties": {
            "exec": {"$ref": "#/definitions/io.k8s.api.core.v1.ExecAction"},
            "httpGet": {"$ref": "#/definitions/io.k8s.api.core.v1.HTTPGetAction"},
            "sleep": {"$ref": "#/definitions/io.k8s.api.core.v1.SleepAction"},
            "tcpSocket": {"$ref": "#/definitions/io.k8s.api.core.v1.TCPSocketAction"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.LoadBalancerIngress": {
        "properties": {
            "hostname": {"type": "string"},
            "ip": {"type": "string"},
            "ipMode": {"type": "string"},
            "ports": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PortStatus"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.LoadBalancerStatus": {
        "properties": {
            "ingress": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.LoadBalancerIngress"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            }
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.LocalObjectReference": {
        "properties": {"name": {"type": "string"}},
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.ModifyVolumeStatus": {
        "properties": {
            "status": {"type": "string"},
            "targetVolumeAttributesClassName": {"type": "string"},
        },
        "required": ["status"],
        "type": "object",
    },
    "io.k8s.api.core.v1.NFSVolumeSource": {
        "properties": {
            "path": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "server": {"type": "string"},
        },
        "required": ["server", "path"],
        "type": "object",
    },
    "io.k8s.api.core.v1.Namespace": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.NamespaceSpec"},
            "status": {"$ref": "#/definitions/io.k8s.api.core.v1.NamespaceStatus"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Namespace", "version": "v1"}],
    },
    "io.k8s.api.core.v1.NamespaceCondition": {
        "properties": {
            "lastTransitionTime": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
            "message": {"type": "string"},
            "reason": {"type": "string"},
            "status": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["type", "status"],
        "type": "object",
    },
    "io.k8s.api.core.v1.NamespaceList": {
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Namespace"},
                "type": "array",
            },
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "", "kind": "NamespaceList", "version": "v1"}
        ],
    },
    "io.k8s.api.core.v1.NamespaceSpec": {
        "properties": {
            "finalizers": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            }
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.NamespaceStatus": {
        "properties": {
            "conditions": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.NamespaceCondition"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["type"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "type",
                "x-kubernetes-patch-strategy": "merge",
            },
            "phase": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.NodeAffinity": {
        "properties": {
            "preferredDuringSchedulingIgnoredDuringExecution": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PreferredSchedulingTerm"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "$ref": "#/definitions/io.k8s.api.core.v1.NodeSelector"
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.NodeSelector": {
        "properties": {
            "nodeSelectorTerms": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.NodeSelectorTerm"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            }
        },
        "required": ["nodeSelectorTerms"],
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.NodeSelectorRequirement": {
        "properties": {
            "key": {"type": "string"},
            "operator": {"type": "string"},
            "values": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "required": ["key", "operator"],
        "type": "object",
    },
    "io.k8s.api.core.v1.NodeSelectorTerm": {
        "properties": {
            "matchExpressions": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.NodeSelectorRequirement"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "matchFields": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.NodeSelectorRequirement"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.ObjectFieldSelector": {
        "properties": {"apiVersion": {"type": "string"}, "fieldPath": {"type": "string"}},
        "required": ["fieldPath"],
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.ObjectReference": {
        "properties": {
            "apiVersion": {"type": "string"},
            "fieldPath": {"type": "string"},
            "kind": {"type": "string"},
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "uid": {"type": "string"},
        },
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.PersistentVolumeClaim": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaimSpec"},
            "status": {"$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaimStatus"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "", "kind": "PersistentVolumeClaim", "version": "v1"}
        ],
    },
    "io.k8s.api.core.v1.PersistentVolumeClaimCondition": {
        "properties": {
            "lastProbeTime": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
            "lastTransitionTime": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
            "message": {"type": "string"},
            "reason": {"type": "string"},
            "status": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["type", "status"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec": {
        "properties": {
            "accessModes": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "dataSource": {"$ref": "#/definitions/io.k8s.api.core.v1.TypedLocalObjectReference"},
            "dataSourceRef": {"$ref": "#/definitions/io.k8s.api.core.v1.TypedObjectReference"},
            "resources": {"$ref": "#/definitions/io.k8s.api.core.v1.VolumeResourceRequirements"},
            "selector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "storageClassName": {"type": "string"},
            "volumeAttributesClassName": {"type": "string"},
            "volumeMode": {"type": "string"},
            "volumeName": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.PersistentVolumeClaimStatus": {
        "properties": {
            "accessModes": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "allocatedResourceStatuses": {
                "additionalProperties": {"type": "string"},
                "type": "object",
                "x-kubernetes-map-type": "granular",
            },
            "allocatedResources": {
                "additionalProperties": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"
                },
                "type": "object",
            },
            "capacity": {
                "additionalProperties": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"
                },
                "type": "object",
            },
            "conditions": {
                "items": {
                    "$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaimCondition"
                },
                "type": "array",
                "x-kubernetes-list-map-keys": ["type"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "type",
                "x-kubernetes-patch-strategy": "merge",
            },
            "currentVolumeAttributesClassName": {"type": "string"},
            "modifyVolumeStatus": {"$ref": "#/definitions/io.k8s.api.core.v1.ModifyVolumeStatus"},
            "phase": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.PersistentVolumeClaimTemplate": {
        "properties": {
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaimSpec"},
        },
        "required": ["spec"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource": {
        "properties": {"claimName": {"type": "string"}, "readOnly": {"type": "boolean"}},
        "required": ["claimName"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PhotonPersistentDiskVolumeSource": {
        "properties": {"fsType": {"type": "string"}, "pdID": {"type": "string"}},
        "required": ["pdID"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PodAffinity": {
        "properties": {
            "preferredDuringSchedulingIgnoredDuringExecution": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.WeightedPodAffinityTerm"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PodAffinityTerm"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.PodAffinityTerm": {
        "properties": {
            "labelSelector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "matchLabelKeys": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "mismatchLabelKeys": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "namespaceSelector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "namespaces": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "topologyKey": {"type": "string"},
        },
        "required": ["topologyKey"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PodAntiAffinity": {
        "properties": {
            "preferredDuringSchedulingIgnoredDuringExecution": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.WeightedPodAffinityTerm"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PodAffinityTerm"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.PodDNSConfig": {
        "properties": {
            "nameservers": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "options": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PodDNSConfigOption"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "searches": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.PodDNSConfigOption": {
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
        "type": "object",
    },
    "io.k8s.api.core.v1.PodOS": {
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PodReadinessGate": {
        "properties": {"conditionType": {"type": "string"}},
        "required": ["conditionType"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PodResourceClaim": {
        "properties": {
            "name": {"type": "string"},
            "resourceClaimName": {"type": "string"},
            "resourceClaimTemplateName": {"type": "string"},
        },
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PodSchedulingGate": {
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PodSecurityContext": {
        "properties": {
            "appArmorProfile": {"$ref": "#/definitions/io.k8s.api.core.v1.AppArmorProfile"},
            "fsGroup": {"format": "int64", "type": "integer"},
            "fsGroupChangePolicy": {"type": "string"},
            "runAsGroup": {"format": "int64", "type": "integer"},
            "runAsNonRoot": {"type": "boolean"},
            "runAsUser": {"format": "int64", "type": "integer"},
            "seLinuxChangePolicy": {"type": "string"},
            "seLinuxOptions": {"$ref": "#/definitions/io.k8s.api.core.v1.SELinuxOptions"},
            "seccompProfile": {"$ref": "#/definitions/io.k8s.api.core.v1.SeccompProfile"},
            "supplementalGroups": {
                "items": {"format": "int64", "type": "integer"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "supplementalGroupsPolicy": {"type": "string"},
            "sysctls": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Sysctl"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "windowsOptions": {
                "$ref": "#/definitions/io.k8s.api.core.v1.WindowsSecurityContextOptions"
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.PodSpec": {
        "properties": {
            "activeDeadlineSeconds": {"format": "int64", "type": "integer"},
            "affinity": {"$ref": "#/definitions/io.k8s.api.core.v1.Affinity"},
            "automountServiceAccountToken": {"type": "boolean"},
            "containers": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Container"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "dnsConfig": {"$ref": "#/definitions/io.k8s.api.core.v1.PodDNSConfig"},
            "dnsPolicy": {"type": "string"},
            "enableServiceLinks": {"type": "boolean"},
            "ephemeralContainers": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.EphemeralContainer"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "hostAliases": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.HostAlias"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["ip"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "ip",
                "x-kubernetes-patch-strategy": "merge",
            },
            "hostIPC": {"type": "boolean"},
            "hostNetwork": {"type": "boolean"},
            "hostPID": {"type": "boolean"},
            "hostUsers": {"type": "boolean"},
            "hostname": {"type": "string"},
            "imagePullSecrets": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "initContainers": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Container"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "nodeName": {"type": "string"},
            "nodeSelector": {
                "additionalProperties": {"type": "string"},
                "type": "object",
                "x-kubernetes-map-type": "atomic",
            },
            "os": {"$ref": "#/definitions/io.k8s.api.core.v1.PodOS"},
            "overhead": {
                "additionalProperties": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"
                },
                "type": "object",
            },
            "preemptionPolicy": {"type": "string"},
            "priority": {"format": "int32", "type": "integer"},
            "priorityClassName": {"type": "string"},
            "readinessGates": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PodReadinessGate"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "resourceClaims": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PodResourceClaim"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge,retainKeys",
            },
            "resources": {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceRequirements"},
            "restartPolicy": {"type": "string"},
            "runtimeClassName": {"type": "string"},
            "schedulerName": {"type": "string"},
            "schedulingGates": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSchedulingGate"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "securityContext": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSecurityContext"},
            "serviceAccount": {"type": "string"},
            "serviceAccountName": {"type": "string"},
            "setHostnameAsFQDN": {"type": "boolean"},
            "shareProcessNamespace": {"type": "boolean"},
            "subdomain": {"type": "string"},
            "terminationGracePeriodSeconds": {"format": "int64", "type": "integer"},
            "tolerations": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Toleration"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "topologySpreadConstraints": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.TopologySpreadConstraint"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["topologyKey", "whenUnsatisfiable"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "topologyKey",
                "x-kubernetes-patch-strategy": "merge",
            },
            "volumes": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Volume"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge,retainKeys",
            },
        },
        "required": ["containers"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PodTemplateSpec": {
        "properties": {
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.PortStatus": {
        "properties": {
            "error": {"type": "string"},
            "port": {"format": "int32", "type": "integer"},
            "protocol": {"type": "string"},
        },
        "required": ["port", "protocol"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PortworxVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "volumeID": {"type": "string"},
        },
        "required": ["volumeID"],
        "type": "object",
    },
    "io.k8s.api.core.v1.PreferredSchedulingTerm": {
        "properties": {
            "preference": {"$ref": "#/definitions/io.k8s.api.core.v1.NodeSelectorTerm"},
            "weight": {"format": "int32", "type": "integer"},
        },
        "required": ["weight", "preference"],
        "type": "object",
    },
    "io.k8s.api.core.v1.Probe": {
        "properties": {
            "exec": {"$ref": "#/definitions/io.k8s.api.core.v1.ExecAction"},
            "failureThreshold": {"format": "int32", "type": "integer"},
            "grpc": {"$ref": "#/definitions/io.k8s.api.core.v1.GRPCAction"},
            "httpGet": {"$ref": "#/definitions/io.k8s.api.core.v1.HTTPGetAction"},
            "initialDelaySeconds": {"format": "int32", "type": "integer"},
            "periodSeconds": {"format": "int32", "type": "integer"},
            "successThreshold": {"format": "int32", "type": "integer"},
            "tcpSocket": {"$ref": "#/definitions/io.k8s.api.core.v1.TCPSocketAction"},
            "terminationGracePeriodSeconds": {"format": "int64", "type": "integer"},
            "timeoutSeconds": {"format": "int32", "type": "integer"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.ProjectedVolumeSource": {
        "properties": {
            "defaultMode": {"format": "int32", "type": "integer"},
            "sources": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.VolumeProjection"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.QuobyteVolumeSource": {
        "properties": {
            "group": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "registry": {"type": "string"},
            "tenant": {"type": "string"},
            "user": {"type": "string"},
            "volume": {"type": "string"},
        },
        "required": ["registry", "volume"],
        "type": "object",
    },
    "io.k8s.api.core.v1.RBDVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "image": {"type": "string"},
            "keyring": {"type": "string"},
            "monitors": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "pool": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
            "user": {"type": "string"},
        },
        "required": ["monitors", "image"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ResourceClaim": {
        "properties": {"name": {"type": "string"}, "request": {"type": "string"}},
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ResourceFieldSelector": {
        "properties": {
            "containerName": {"type": "string"},
            "divisor": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
            "resource": {"type": "string"},
        },
        "required": ["resource"],
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.ResourceRequirements": {
        "properties": {
            "claims": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceClaim"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map",
            },
            "limits": {
                "additionalProperties": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"
                },
                "type": "object",
            },
            "requests": {
                "additionalProperties": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"
                },
                "type": "object",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.SELinuxOptions": {
        "properties": {
            "level": {"type": "string"},
            "role": {"type": "string"},
            "type": {"type": "string"},
            "user": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.ScaleIOVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "gateway": {"type": "string"},
            "protectionDomain": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
            "sslEnabled": {"type": "boolean"},
            "storageMode": {"type": "string"},
            "storagePool": {"type": "string"},
            "system": {"type": "string"},
            "volumeName": {"type": "string"},
        },
        "required": ["gateway", "system", "secretRef"],
        "type": "object",
    },
    "io.k8s.api.core.v1.SeccompProfile": {
        "properties": {"localhostProfile": {"type": "string"}, "type": {"type": "string"}},
        "required": ["type"],
        "type": "object",
        "x-kubernetes-unions": [
            {
                "discriminator": "type",
                "fields-to-discriminateBy": {"localhostProfile": "LocalhostProfile"},
            }
        ],
    },
    "io.k8s.api.core.v1.SecretEnvSource": {
        "properties": {"name": {"type": "string"}, "optional": {"type": "boolean"}},
        "type": "object",
    },
    "io.k8s.api.core.v1.SecretKeySelector": {
        "properties": {
            "key": {"type": "string"},
            "name": {"type": "string"},
            "optional": {"type": "boolean"},
        },
        "required": ["key"],
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.SecretProjection": {
        "properties": {
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.KeyToPath"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "name": {"type": "string"},
            "optional": {"type": "boolean"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.SecretVolumeSource": {
        "properties": {
            "defaultMode": {"format": "int32", "type": "integer"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.KeyToPath"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "optional": {"type": "boolean"},
            "secretName": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.SecurityContext": {
        "properties": {
            "allowPrivilegeEscalation": {"type": "boolean"},
            "appArmorProfile": {"$ref": "#/definitions/io.k8s.api.core.v1.AppArmorProfile"},
            "capabilities": {"$ref": "#/definitions/io.k8s.api.core.v1.Capabilities"},
            "privileged": {"type": "boolean"},
            "procMount": {"type": "string"},
            "readOnlyRootFilesystem": {"type": "boolean"},
            "runAsGroup": {"format": "int64", "type": "integer"},
            "runAsNonRoot": {"type": "boolean"},
            "runAsUser": {"format": "int64", "type": "integer"},
            "seLinuxOptions": {"$ref": "#/definitions/io.k8s.api.core.v1.SELinuxOptions"},
            "seccompProfile": {"$ref": "#/definitions/io.k8s.api.core.v1.SeccompProfile"},
            "windowsOptions": {
                "$ref": "#/definitions/io.k8s.api.core.v1.WindowsSecurityContextOptions"
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.Service": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.ServiceSpec"},
            "status": {"$ref": "#/definitions/io.k8s.api.core.v1.ServiceStatus"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Service", "version": "v1"}],
    },
    "io.k8s.api.core.v1.ServiceAccountTokenProjection": {
        "properties": {
            "audience": {"type": "string"},
            "expirationSeconds": {"format": "int64", "type": "integer"},
            "path": {"type": "string"},
        },
        "required": ["path"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ServiceList": {
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Service"},
                "type": "array",
            },
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "ServiceList", "version": "v1"}],
    },
    "io.k8s.api.core.v1.ServicePort": {
        "properties": {
            "appProtocol": {"type": "string"},
            "name": {"type": "string"},
            "nodePort": {"format": "int32", "type": "integer"},
            "port": {"format": "int32", "type": "integer"},
            "protocol": {"type": "string"},
            "targetPort": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        },
        "required": ["port"],
        "type": "object",
    },
    "io.k8s.api.core.v1.ServiceSpec": {
        "properties": {
            "allocateLoadBalancerNodePorts": {"type": "boolean"},
            "clusterIP": {"type": "string"},
            "clusterIPs": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "externalIPs": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "externalName": {"type": "string"},
            "externalTrafficPolicy": {"type": "string"},
            "healthCheckNodePort": {"format": "int32", "type": "integer"},
            "internalTrafficPolicy": {"type": "string"},
            "ipFamilies": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "ipFamilyPolicy": {"type": "string"},
            "loadBalancerClass": {"type": "string"},
            "loadBalancerIP": {"type": "string"},
            "loadBalancerSourceRanges": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "ports": {
                "items": {"$ref": "#/definitions/io.k8s.api.core.v1.ServicePort"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["port", "protocol"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "port",
                "x-kubernetes-patch-strategy": "merge",
            },
            "publishNotReadyAddresses": {"type": "boolean"},
            "selector": {
                "additionalProperties": {"type": "string"},
                "type": "object",
                "x-kubernetes-map-type": "atomic",
            },
            "sessionAffinity": {"type": "string"},
            "sessionAffinityConfig": {
                "$ref": "#/definitions/io.k8s.api.core.v1.SessionAffinityConfig"
            },
            "trafficDistribution": {"type": "string"},
            "type": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.ServiceStatus": {
        "properties": {
            "conditions": {
                "items": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Condition"},
                "type": "array",
                "x-kubernetes-list-map-keys": ["type"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "type",
                "x-kubernetes-patch-strategy": "merge",
            },
            "loadBalancer": {"$ref": "#/definitions/io.k8s.api.core.v1.LoadBalancerStatus"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.SessionAffinityConfig": {
        "properties": {"clientIP": {"$ref": "#/definitions/io.k8s.api.core.v1.ClientIPConfig"}},
        "type": "object",
    },
    "io.k8s.api.core.v1.SleepAction": {
        "properties": {"seconds": {"format": "int64", "type": "integer"}},
        "required": ["seconds"],
        "type": "object",
    },
    "io.k8s.api.core.v1.StorageOSVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "secretRef": {"$ref": "#/definitions/io.k8s.api.core.v1.LocalObjectReference"},
            "volumeName": {"type": "string"},
            "volumeNamespace": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.Sysctl": {
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
        "required": ["name", "value"],
        "type": "object",
    },
    "io.k8s.api.core.v1.TCPSocketAction": {
        "properties": {
            "host": {"type": "string"},
            "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        },
        "required": ["port"],
        "type": "object",
    },
    "io.k8s.api.core.v1.Toleration": {
        "properties": {
            "effect": {"type": "string"},
            "key": {"type": "string"},
            "operator": {"type": "string"},
            "tolerationSeconds": {"format": "int64", "type": "integer"},
            "value": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.TopologySpreadConstraint": {
        "properties": {
            "labelSelector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "matchLabelKeys": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "maxSkew": {"format": "int32", "type": "integer"},
            "minDomains": {"format": "int32", "type": "integer"},
            "nodeAffinityPolicy": {"type": "string"},
            "nodeTaintsPolicy": {"type": "string"},
            "topologyKey": {"type": "string"},
            "whenUnsatisfiable": {"type": "string"},
        },
        "required": ["maxSkew", "topologyKey", "whenUnsatisfiable"],
        "type": "object",
    },
    "io.k8s.api.core.v1.TypedLocalObjectReference": {
        "properties": {
            "apiGroup": {"type": "string"},
            "kind": {"type": "string"},
            "name": {"type": "string"},
        },
        "required": ["kind", "name"],
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.api.core.v1.TypedObjectReference": {
        "properties": {
            "apiGroup": {"type": "string"},
            "kind": {"type": "string"},
            "name": {"type": "string"},
            "namespace": {"type": "string"},
        },
        "required": ["kind", "name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.Volume": {
        "properties": {
            "awsElasticBlockStore": {
                "$ref": "#/definitions/io.k8s.api.core.v1.AWSElasticBlockStoreVolumeSource"
            },
            "azureDisk": {"$ref": "#/definitions/io.k8s.api.core.v1.AzureDiskVolumeSource"},
            "azureFile": {"$ref": "#/definitions/io.k8s.api.core.v1.AzureFileVolumeSource"},
            "cephfs": {"$ref": "#/definitions/io.k8s.api.core.v1.CephFSVolumeSource"},
            "cinder": {"$ref": "#/definitions/io.k8s.api.core.v1.CinderVolumeSource"},
            "configMap": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMapVolumeSource"},
            "csi": {"$ref": "#/definitions/io.k8s.api.core.v1.CSIVolumeSource"},
            "downwardAPI": {"$ref": "#/definitions/io.k8s.api.core.v1.DownwardAPIVolumeSource"},
            "emptyDir": {"$ref": "#/definitions/io.k8s.api.core.v1.EmptyDirVolumeSource"},
            "ephemeral": {"$ref": "#/definitions/io.k8s.api.core.v1.EphemeralVolumeSource"},
            "fc": {"$ref": "#/definitions/io.k8s.api.core.v1.FCVolumeSource"},
            "flexVolume": {"$ref": "#/definitions/io.k8s.api.core.v1.FlexVolumeSource"},
            "flocker": {"$ref": "#/definitions/io.k8s.api.core.v1.FlockerVolumeSource"},
            "gcePersistentDisk": {
                "$ref": "#/definitions/io.k8s.api.core.v1.GCEPersistentDiskVolumeSource"
            },
            "gitRepo": {"$ref": "#/definitions/io.k8s.api.core.v1.GitRepoVolumeSource"},
            "glusterfs": {"$ref": "#/definitions/io.k8s.api.core.v1.GlusterfsVolumeSource"},
            "hostPath": {"$ref": "#/definitions/io.k8s.api.core.v1.HostPathVolumeSource"},
            "image": {"$ref": "#/definitions/io.k8s.api.core.v1.ImageVolumeSource"},
            "iscsi": {"$ref": "#/definitions/io.k8s.api.core.v1.ISCSIVolumeSource"},
            "name": {"type": "string"},
            "nfs": {"$ref": "#/definitions/io.k8s.api.core.v1.NFSVolumeSource"},
            "persistentVolumeClaim": {
                "$ref": "#/definitions/io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource"
            },
            "photonPersistentDisk": {
                "$ref": "#/definitions/io.k8s.api.core.v1.PhotonPersistentDiskVolumeSource"
            },
            "portworxVolume": {"$ref": "#/definitions/io.k8s.api.core.v1.PortworxVolumeSource"},
            "projected": {"$ref": "#/definitions/io.k8s.api.core.v1.ProjectedVolumeSource"},
            "quobyte": {"$ref": "#/definitions/io.k8s.api.core.v1.QuobyteVolumeSource"},
            "rbd": {"$ref": "#/definitions/io.k8s.api.core.v1.RBDVolumeSource"},
            "scaleIO": {"$ref": "#/definitions/io.k8s.api.core.v1.ScaleIOVolumeSource"},
            "secret": {"$ref": "#/definitions/io.k8s.api.core.v1.SecretVolumeSource"},
            "storageos": {"$ref": "#/definitions/io.k8s.api.core.v1.StorageOSVolumeSource"},
            "vsphereVolume": {
                "$ref": "#/definitions/io.k8s.api.core.v1.VsphereVirtualDiskVolumeSource"
            },
        },
        "required": ["name"],
        "type": "object",
    },
    "io.k8s.api.core.v1.VolumeDevice": {
        "properties": {"devicePath": {"type": "string"}, "name": {"type": "string"}},
        "required": ["name", "devicePath"],
        "type": "object",
    },
    "io.k8s.api.core.v1.VolumeMount": {
        "properties": {
            "mountPath": {"type": "string"},
            "mountPropagation": {"type": "string"},
            "name": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "recursiveReadOnly": {"type": "string"},
            "subPath": {"type": "string"},
            "subPathExpr": {"type": "string"},
        },
        "required": ["name", "mountPath"],
        "type": "object",
    },
    "io.k8s.api.core.v1.VolumeProjection": {
        "properties": {
            "clusterTrustBundle": {
                "$ref": "#/definitions/io.k8s.api.core.v1.ClusterTrustBundleProjection"
            },
            "configMap": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMapProjection"},
            "downwardAPI": {"$ref": "#/definitions/io.k8s.api.core.v1.DownwardAPIProjection"},
            "secret": {"$ref": "#/definitions/io.k8s.api.core.v1.SecretProjection"},
            "serviceAccountToken": {
                "$ref": "#/definitions/io.k8s.api.core.v1.ServiceAccountTokenProjection"
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.VolumeResourceRequirements": {
        "properties": {
            "limits": {
                "additionalProperties": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"
                },
                "type": "object",
            },
            "requests": {
                "additionalProperties": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"
                },
                "type": "object",
            },
        },
        "type": "object",
    },
    "io.k8s.api.core.v1.VsphereVirtualDiskVolumeSource": {
        "properties": {
            "fsType": {"type": "string"},
            "storagePolicyID": {"type": "string"},
            "storagePolicyName": {"type": "string"},
            "volumePath": {"type": "string"},
        },
        "required": ["volumePath"],
        "type": "object",
    },
    "io.k8s.api.core.v1.WeightedPodAffinityTerm": {
        "properties": {
            "podAffinityTerm": {"$ref": "#/definitions/io.k8s.api.core.v1.PodAffinityTerm"},
            "weight": {"format": "int32", "type": "integer"},
        },
        "required": ["weight", "podAffinityTerm"],
        "type": "object",
    },
    "io.k8s.api.core.v1.WindowsSecurityContextOptions": {
        "properties": {
            "gmsaCredentialSpec": {"type": "string"},
            "gmsaCredentialSpecName": {"type": "string"},
            "hostProcess": {"type": "boolean"},
            "runAsUserName": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.networking.v1.IPBlock": {
        "properties": {
            "cidr": {"type": "string"},
            "except": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "required": ["cidr"],
        "type": "object",
    },
    "io.k8s.api.networking.v1.NetworkPolicy": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {"$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicySpec"},
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "networking.k8s.io", "kind": "NetworkPolicy", "version": "v1"}
        ],
    },
    "io.k8s.api.networking.v1.NetworkPolicyEgressRule": {
        "properties": {
            "ports": {
                "items": {"$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicyPort"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "to": {
                "items": {"$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicyPeer"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.networking.v1.NetworkPolicyIngressRule": {
        "properties": {
            "from": {
                "items": {"$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicyPeer"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "ports": {
                "items": {"$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicyPort"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "type": "object",
    },
    "io.k8s.api.networking.v1.NetworkPolicyList": {
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {
                "items": {"$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicy"},
                "type": "array",
            },
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "networking.k8s.io", "kind": "NetworkPolicyList", "version": "v1"}
        ],
    },
    "io.k8s.api.networking.v1.NetworkPolicyPeer": {
        "properties": {
            "ipBlock": {"$ref": "#/definitions/io.k8s.api.networking.v1.IPBlock"},
            "namespaceSelector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "podSelector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
        },
        "type": "object",
    },
    "io.k8s.api.networking.v1.NetworkPolicyPort": {
        "properties": {
            "endPort": {"format": "int32", "type": "integer"},
            "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
            "protocol": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.api.networking.v1.NetworkPolicySpec": {
        "properties": {
            "egress": {
                "items": {"$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicyEgressRule"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "ingress": {
                "items": {
                    "$ref": "#/definitions/io.k8s.api.networking.v1.NetworkPolicyIngressRule"
                },
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "podSelector": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
            },
            "policyTypes": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "required": ["podSelector"],
        "type": "object",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.apimachinery.pkg.apis.meta.v1.Condition": {
        "properties": {
            "lastTransitionTime": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
            "message": {"type": "string"},
            "observedGeneration": {"format": "int64", "type": "integer"},
            "reason": {"type": "string"},
            "status": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["type", "status", "lastTransitionTime", "reason", "message"],
        "type": "object",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": {"type": "object"},
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector": {
        "properties": {
            "matchExpressions": {
                "items": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement"
                },
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "matchLabels": {"additionalProperties": {"type": "string"}, "type": "object"},
        },
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement": {
        "properties": {
            "key": {"type": "string"},
            "operator": {"type": "string"},
            "values": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "required": ["key", "operator"],
        "type": "object",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta": {
        "properties": {
            "continue": {"type": "string"},
            "remainingItemCount": {"format": "int64", "type": "integer"},
            "resourceVersion": {"type": "string"},
            "selfLink": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry": {
        "properties": {
            "apiVersion": {"type": "string"},
            "fieldsType": {"type": "string"},
            "fieldsV1": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"},
            "manager": {"type": "string"},
            "operation": {"type": "string"},
            "subresource": {"type": "string"},
            "time": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
        },
        "type": "object",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": {"format": "date-time", "type": "string"},
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
        "properties": {
            "annotations": {"additionalProperties": {"type": "string"}, "type": "object"},
            "creationTimestamp": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
            "deletionGracePeriodSeconds": {"format": "int64", "type": "integer"},
            "deletionTimestamp": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
            },
            "finalizers": {
                "items": {"type": "string"},
                "type": "array",
                "x-kubernetes-list-type": "set",
                "x-kubernetes-patch-strategy": "merge",
            },
            "generateName": {"type": "string"},
            "generation": {"format": "int64", "type": "integer"},
            "labels": {"additionalProperties": {"type": "string"}, "type": "object"},
            "managedFields": {
                "items": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"
                },
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "ownerReferences": {
                "items": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"
                },
                "type": "array",
                "x-kubernetes-list-map-keys": ["uid"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "uid",
                "x-kubernetes-patch-strategy": "merge",
            },
            "resourceVersion": {"type": "string"},
            "selfLink": {"type": "string"},
            "uid": {"type": "string"},
        },
        "type": "object",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference": {
        "properties": {
            "apiVersion": {"type": "string"},
            "blockOwnerDeletion": {"type": "boolean"},
            "controller": {"type": "boolean"},
            "kind": {"type": "string"},
            "name": {"type": "string"},
            "uid": {"type": "string"},
        },
        "required": ["apiVersion", "kind", "name", "uid"],
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": {"format": "date-time", "type": "string"},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "format": "int-or-string",
        "type": "string",
    },
}
