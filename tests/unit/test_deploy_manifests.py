"""deploy/k8s: the manifests parse and name only things the code has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.settings import Settings

yaml = pytest.importorskip("yaml", reason="PyYAML parses the manifests")

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if doc]


def applied() -> list[dict[str, Any]]:
    kustomization = documents("kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in documents(name)]


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in applied() if d["kind"] == "Deployment"}


def test_every_manifest_parses_and_the_kustomization_lists_them_all() -> None:
    listed = set(documents("kustomization.yaml")[0]["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk
    for doc in applied() + documents("secret.example.yaml"):
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]


WORKERS = {"api", "projections", "watcher", "mail", "relay", "intake-consumer", "smtp-intake",
           "imap-intake"}


def test_every_worker_runs_with_health_probes() -> None:
    found = deployments()
    assert set(found) == WORKERS
    # The API replicas run no worker; outbound mail has its own replicas (state in PostgreSQL).
    assert found["api"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["serve", "--api-only"]
    assert "outbox" in found["mail"]["spec"]["template"]["spec"]["containers"][0]["args"][-1]
    assert "checkpoints" in found["watcher"]["spec"]["template"]["spec"]["containers"][0]["args"][-1]
    assert found["api"]["spec"]["replicas"] >= 2
    for name, deployment in found.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert "readinessProbe" in container and "livenessProbe" in container, name
    # Exactly one relay per store, and never two during a rollout.
    assert found["relay"]["spec"]["replicas"] == 1
    assert found["relay"]["spec"]["strategy"]["type"] == "Recreate"


def test_containers_run_existing_subcommands_with_the_shared_configuration() -> None:
    from services.cli import build_parser

    parser = build_parser()
    for name, deployment in deployments().items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        parser.parse_args(container["args"])  # exits on an unknown command or option
        for probe in ("readinessProbe", "livenessProbe"):
            command = container[probe].get("exec", {}).get("command")
            if command:
                assert command[0] == "pass24-desk", name
                parser.parse_args(command[1:])
        refs = {next(iter(source.values()))["name"] for source in container["envFrom"]}
        assert refs == {"pass24-desk-config", "pass24-desk-secrets"}, name


def test_config_and_secret_keys_are_settings_the_code_reads() -> None:
    fields = {f"PASS24_{name.upper()}" for name in Settings.model_fields}
    config = next(d for d in applied() if d["kind"] == "ConfigMap")
    secret = documents("secret.example.yaml")[0]
    unknown = (set(config["data"]) | set(secret["stringData"])) - fields
    assert not unknown
    # Production settings accept this configuration once the secrets are real.
    values = {**config["data"], **secret["stringData"]}
    Settings(_env_file=None, **{k.removeprefix("PASS24_").lower(): v for k, v in values.items()})


def test_probes_and_the_service_point_at_the_api() -> None:
    from services.api import create_app
    from services.api.auth import TokenStore
    from services.application import SupportDesk

    from fastapi.testclient import TestClient

    client = TestClient(create_app(SupportDesk(), tokens=TokenStore(None)))
    api = deployments()["api"]
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for path in ("/healthz", "/readyz", "/metrics", "/dashboard"):
        assert client.get(path).status_code == 200, path
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    service = next(d for d in applied() if d["kind"] == "Service" and d["metadata"]["name"] == "api")
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()


def test_postgres_and_kafka_are_external_services_named_by_the_config() -> None:
    external = {d["metadata"]["name"]: d for d in applied()
                if d["kind"] == "Service" and d["spec"].get("type") == "ExternalName"}
    config = next(d for d in applied() if d["kind"] == "ConfigMap")["data"]
    assert config["PASS24_POSTGRES_HOST"] in external
    assert config["PASS24_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in external


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    """kubernetes-validate ships the OpenAPI-derived JSON schemas of each Kubernetes release
    in the package (no network); strict mode also rejects unknown fields, the typo a
    cluster would silently drop."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = "1.30.0"
    problems = []
    for doc in applied() + documents("secret.example.yaml"):
        if doc["apiVersion"].startswith("kustomize.config.k8s.io"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {error.message} at "
                            f"{'.'.join(str(p) for p in error.path)}")
    assert not problems, "\n".join(problems)


def test_the_validator_catches_a_broken_manifest() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = deployments()["relay"]
    broken = {**broken, "spec": {**broken["spec"], "replicas": "one"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)
    typo = deployments()["relay"]
    typo = {**typo, "spec": {**typo["spec"], "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, "1.30.0", strict=True)


def test_a_long_catch_up_does_not_fail_liveness() -> None:
    """Lag belongs in readiness: a relay or projections pod catching up must not be killed."""
    for name in ("projections", "relay"):
        (container,) = deployments()[name]["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["exec"]["command"][-1] == "store", name
        assert container["readinessProbe"]["exec"]["command"][-1] == name, name
def test_no_replica_keeps_mail_state_on_its_own_disk_and_attachments_are_shared() -> None:
    config = next(d for d in applied() if d["kind"] == "ConfigMap")["data"]
    # The quarantine and the replay cache are in PostgreSQL: no per-pod mail database.
    assert "PASS24_MAIL_DB_PATH" not in config
    (claim,) = [d for d in applied() if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    found = deployments()
    for name in ("api", "intake-consumer", "smtp-intake", "imap-intake"):  # they write attachments; api serves them
        pod = found[name]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volume = volumes[mounts[config["PASS24_ATTACHMENTS_DIR"]]]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"], name
        assert not any("emptyDir" in v for v in volumes.values()), name
    assert "volumes" not in found["mail"]["spec"]["template"]["spec"]
