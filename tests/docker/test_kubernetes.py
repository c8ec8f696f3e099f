"""docker/rayjob.yaml: the KubeRay RayJob's pod templates and the PVC pass kubernetes-validate in
strict mode, every Ray container gets the token from the Secret, pods run as the image's user,
and the entrypoint and ``rayStartParams`` parse with our CLI and ``ray start``."""

from __future__ import annotations

import shlex
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest

K8S_VERSION = kubernetes_validate.latest_version()
# RayJobSpec / RayClusterSpec / group fields of KubeRay's ray.io/v1 API (no CRD schema ships
# with the test tools, so typos in KubeRay's own fields are caught by this list).
RAYJOB_FIELDS = {
    "activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate",
    "metadata", "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy",
    "entrypoint", "runtimeEnvYAML", "jobId", "submissionMode", "entrypointResources",
    "entrypointNumCpus", "entrypointNumGpus", "ttlSecondsAfterFinished",
    "shutdownAfterJobFinishes", "suspend",
}  # fmt: skip
CLUSTER_FIELDS = {
    "suspend", "managedBy", "autoscalerOptions", "headServiceAnnotations",
    "enableInTreeAutoscaling", "gcsFaultToleranceOptions", "headGroupSpec", "rayVersion",
    "workerGroupSpecs",
}  # fmt: skip
HEAD_FIELDS = {"template", "headService", "enableIngress", "rayStartParams", "serviceType"}
WORKER_FIELDS = {
    "suspend", "groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds",
    "rayStartParams", "template", "scaleStrategy", "numOfHosts",
}  # fmt: skip


@pytest.fixture(scope="module")
def documents(docker: SimpleNamespace) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docker.read_yaml_documents("rayjob.yaml")}


def templates(rayjob: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = rayjob["spec"]
    cluster = spec["rayClusterSpec"]
    found = {
        "submitter": spec["submitterPodTemplate"],
        "head": cluster["headGroupSpec"]["template"],
    }
    for group in cluster["workerGroupSpecs"]:
        found[group["groupName"]] = group["template"]
    return found


def test_kuberay_fields_are_known(documents: dict[str, dict[str, Any]]) -> None:
    rayjob = documents["RayJob"]
    assert rayjob["apiVersion"] == "ray.io/v1"
    spec = rayjob["spec"]
    assert set(spec) <= RAYJOB_FIELDS, set(spec) - RAYJOB_FIELDS
    cluster = spec["rayClusterSpec"]
    assert set(cluster) <= CLUSTER_FIELDS, set(cluster) - CLUSTER_FIELDS
    assert set(cluster["headGroupSpec"]) <= HEAD_FIELDS
    for group in cluster["workerGroupSpecs"]:
        assert set(group) <= WORKER_FIELDS, set(group) - WORKER_FIELDS
    assert spec["submissionMode"] == "K8sJobMode" and spec["shutdownAfterJobFinishes"] is True


def test_pod_templates_are_valid_kubernetes(documents: dict[str, dict[str, Any]]) -> None:
    for role, template in templates(documents["RayJob"]).items():
        pod_template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": role},
            "template": template,
        }
        kubernetes_validate.validate(pod_template, K8S_VERSION, strict=True)


def test_results_claim_is_valid_and_shared(documents: dict[str, dict[str, Any]]) -> None:
    claim = documents["PersistentVolumeClaim"]
    kubernetes_validate.validate(claim, K8S_VERSION, strict=True)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for role, template in templates(documents["RayJob"]).items():
        if role == "submitter":
            continue
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        mounts = {
            m["mountPath"]: m["name"] for m in template["spec"]["containers"][0]["volumeMounts"]
        }
        claim_name = volumes[mounts["/results"]]["persistentVolumeClaim"]["claimName"]
        assert claim_name == claim["metadata"]["name"], role


def test_every_container_has_the_token(documents: dict[str, dict[str, Any]]) -> None:
    secrets = set()
    for role, template in templates(documents["RayJob"]).items():
        env = {e["name"]: e for e in template["spec"]["containers"][0]["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", role
        ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert "value" not in env["RAY_AUTH_TOKEN"], f"{role}: a token in the file"
        secrets.add((ref["name"], ref["key"]))
    assert len(secrets) == 1, f"the pods read different secrets: {secrets}"


def test_pods_run_as_the_images_user(
    docker: SimpleNamespace, documents: dict[str, dict[str, Any]]
) -> None:
    for role, template in templates(documents["RayJob"]).items():
        pod = template["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == docker.image_uid, role
        container = template["spec"]["containers"][0]["securityContext"]
        assert container["allowPrivilegeEscalation"] is False, role


def test_entrypoint_parses_with_the_cli(
    docker: SimpleNamespace, documents: dict[str, dict[str, Any]]
) -> None:
    config = docker.parse_sweep(shlex.split(documents["RayJob"]["spec"]["entrypoint"]))
    assert config.storage == "/results" and config.gpus_per_trial > 0


def test_ray_start_params_parse(
    docker: SimpleNamespace, documents: dict[str, dict[str, Any]]
) -> None:
    cluster = documents["RayJob"]["spec"]["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    parsed = []
    for group in groups:
        # KubeRay writes each entry as --key=value after `ray start`.
        params = group["rayStartParams"]
        assert all(isinstance(v, str) for v in params.values()), "KubeRay wants string values"
        parsed.append(docker.parse_ray_start([f"--{k}={v}" for k, v in params.items()]))
    assert parsed[0]["num_cpus"] == 0, "trials would be placed on the head"


def test_gpu_workers_ask_for_gpus(documents: dict[str, dict[str, Any]]) -> None:
    for group in documents["RayJob"]["spec"]["rayClusterSpec"]["workerGroupSpecs"]:
        resources = group["template"]["spec"]["containers"][0]["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"]
