"""Operations artefacts: alert rules, dashboard, container image, compose stack, Kubernetes manifests.

No broker needed. External validators are Debian's promtool (package `prometheus`) and docker-compose
(package `docker-compose`, works without a Docker engine) and PyPI's kubernetes-validate; a test that
needs a missing tool skips and says which package brings it.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import promql_refs
from streams import metrics as service_metrics
from streams.config import TOPICS

REPO = promql_refs.REPO
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
GRAFANA_DIR = REPO / "deploy" / "grafana"
K8S_DIR = REPO / "deploy" / "kubernetes"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
OPERATIONS_DOC = REPO / "docs" / "operations.md"
# Configuration, topics, scaling out and upgrading are the README's Operations section.
OPERATORS_README = (REPO / "README.md").read_text().split("\n## Operations\n", 1)[1].split("\n## Development", 1)[0]
K8S_VERSION = "1.31.0"
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
# Known label value sets: a matcher on one of these labels must name a value the service emits.
LABEL_VALUES = {
    "reason": set(service_metrics.REJECT_REASONS),
    "kind": {"exact", "near", "rewrite"},
    "stage": set(service_metrics.STAGES),
}


def need_tool(name: str, debian_package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install -y --no-install-recommends {debian_package})")
    return path


def run(argv: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def environment_names_read_by_service() -> set[str]:
    """Every environment variable the service reads (string literals in streams/*.py, plus thresholds)."""
    names = {f"NEWSFLOW_THRESHOLD_{topic.upper()}" for topic in TOPICS}
    for source in (REPO / "streams").glob("*.py"):
        names.update(re.findall(r"[\"'](KAFKA_BOOTSTRAP|NEWSFLOW_[A-Z0-9_]+)[\"']", source.read_text()))
    return names


# --- Prometheus ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def promtool() -> str:
    return need_tool("promtool", "prometheus")


def test_prometheus_config_and_rules_pass_promtool_checks(promtool):
    config = run([promtool, "check", "config", "prometheus.yml"], cwd=PROMETHEUS_DIR)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = run([promtool, "check", "rules", "alerts.yml"], cwd=PROMETHEUS_DIR)
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_alert_rule_unit_tests_pass(promtool):
    result = run([promtool, "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_broken_threshold(promtool, tmp_path):
    """The unit tests bite: loosen one rule and they must fail."""
    for name in ("alerts.yml", "alerts_test.yml"):
        shutil.copy(PROMETHEUS_DIR / name, tmp_path / name)
    rules = (tmp_path / "alerts.yml").read_text()
    assert "for: 5m" in rules
    (tmp_path / "alerts.yml").write_text(rules.replace("for: 5m", "for: 30m", 1))
    result = run([promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path)
    assert result.returncode != 0
    assert "NewsflowWorkerDown" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    alerts = {rule["alert"] for rule in promql_refs.alert_rules()}
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - firing == set(), "alerts never shown to fire"
    assert alerts - quiet == set(), "alerts never shown to stay quiet"
    assert (firing | quiet) - alerts == set(), "tests of alerts that do not exist"


def test_alerts_carry_severity_and_a_runbook_section_that_exists():
    doc = OPERATIONS_DOC.read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
               for heading in re.findall(r"^#+ (.+)$", doc, flags=re.M)}
    for rule in promql_refs.alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/operations.md", name
        assert anchor in anchors, f"{name}: docs/operations.md has no section #{anchor}"


def test_prometheus_scrapes_the_compose_worker_under_the_job_the_alerts_select():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for group in jobs["newsflow"]["static_configs"] for t in group["targets"]]
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    worker_port = compose["services"]["worker"]["environment"]["NEWSFLOW_WEB_PORT"]
    assert targets == [f"worker:{worker_port}"]
    for _, expr in promql_refs.alert_queries():
        for name, _op, value in promql_refs.label_matchers(expr):
            if name == "job":
                assert value == "newsflow", expr


# --- metrics referenced by the dashboard and the alerts ------------------------------------------

@pytest.fixture(scope="module")
def exported():
    catalogue = service_metrics.Metrics()
    return promql_refs.exported_label_names(catalogue), promql_refs.exported_series_names(catalogue.registry)


def test_label_catalogue_covers_every_exported_series(exported):
    labels_by_series, series = exported
    assert set(labels_by_series) == series
    assert labels_by_series["newsflow_consumer_lag_records"] == {"topic", "partition"}
    assert labels_by_series["newsflow_stage_duration_seconds_bucket"] == {"stage", "le"}


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_referenced_metric_is_exported(source, exported):
    _, series = exported
    queries = promql_refs.dashboard_queries() if source == "dashboard" else promql_refs.alert_queries()
    assert queries
    for where, expr in queries:
        unknown = promql_refs.metric_names(expr) - series - promql_refs.SCRAPE_METRICS
        assert not unknown, f"{where}: {sorted(unknown)} not exported by streams.metrics.Metrics"


def test_dashboard_queries_parse_with_prometheus_own_parser(promtool, tmp_path):
    """promql-parser is a reimplementation; the Prometheus server is the judge. Each dashboard query
    (variables substituted as Grafana would) becomes a recording rule for `promtool check rules`."""
    queries = [expr for _, expr in promql_refs.dashboard_queries()]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard_query_{i}", "expr": expr} for i, expr in enumerate(queries)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout


def test_reference_parser_finds_names_and_rejects_bad_promql():
    expr = 'histogram_quantile(0.9, sum by (le, stage) (rate(a_bucket{stage="dedup", job=~"x"}[5m]))) / on(instance) b'
    assert promql_refs.metric_names(expr) == {"a_bucket", "b"}
    assert promql_refs.label_names(expr) == {"le", "stage", "job", "instance"}
    with pytest.raises(ValueError):
        promql_refs.metric_names("sum(rate(x[5m])")


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_referenced_label_exists_on_the_metrics_queried(source, exported):
    labels_by_series, _ = exported
    queries = promql_refs.dashboard_queries() if source == "dashboard" else promql_refs.alert_queries()
    for where, expr in queries:
        available = set(TARGET_LABELS)
        for name in promql_refs.metric_names(expr):
            available |= labels_by_series.get(name, set())
        missing = promql_refs.label_names(expr) - available
        assert not missing, f"{where}: labels {sorted(missing)} exist on none of its metrics"
        for label, op, value in promql_refs.label_matchers(expr):
            if label in LABEL_VALUES and op == "=":
                assert value in LABEL_VALUES[label], f"{where}: {label}={value!r} is never emitted"


# --- Grafana -------------------------------------------------------------------------------------

def _dashboard_panels(dashboard: dict) -> list[dict]:
    return list(promql_refs._panels(dashboard["panels"]))


def test_dashboard_is_well_formed_with_unique_panel_ids_and_no_overlaps():
    dashboards = promql_refs.dashboards()
    assert dashboards
    for path, dashboard in dashboards.items():
        assert dashboard["uid"] and dashboard["title"], path
        panels = _dashboard_panels(dashboard)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        occupied: dict[tuple[int, int], int] = {}
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in occupied, f"{panel['title']!r} overlaps panel {occupied[(x, y)]}"
                    occupied[(x, y)] = panel["id"]
            if panel["type"] != "row":
                assert panel.get("targets"), f"{panel['title']!r} has no query"
                refs = [t["refId"] for t in panel["targets"]]
                assert len(refs) == len(set(refs)), panel["title"]
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_covers_the_operational_questions():
    """Throughput, duplicates, topics, dead letters, latency, stage time, lag, index, health, build."""
    referenced = promql_refs.metric_names_in_dashboard()
    wanted = {
        "newsflow_articles_consumed_total", "newsflow_articles_enriched_total",
        "newsflow_articles_deadlettered_total", "newsflow_duplicates_total", "newsflow_topics_assigned_total",
        "newsflow_end_to_end_latency_seconds_bucket", "newsflow_stage_duration_seconds_bucket",
        "newsflow_consumer_lag_records", "newsflow_dedup_index_articles", "newsflow_dedup_index_entries",
        "newsflow_dedup_index_bytes", "newsflow_worker_ready", "newsflow_broker_up", "newsflow_build_info",
    }
    assert wanted - referenced == set()
    quantiles = {m.group(1) for _, expr in promql_refs.dashboard_queries()
                 for m in re.finditer(r"histogram_quantile\(([0-9.]+), .*newsflow_end_to_end", expr)}
    assert {"0.5", "0.95", "0.99"} <= quantiles


def test_grafana_provisioning_matches_the_compose_mounts():
    datasource = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/prometheus.yml").read_text())
    (prometheus,) = datasource["datasources"]
    assert prometheus["type"] == "prometheus" and prometheus["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/newsflow.yml").read_text())
    dashboard_path = provider["providers"][0]["options"]["path"]
    mounts = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{dashboard_path}:ro" in mounts
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


# --- docker-compose ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_file_validates():
    docker_compose = need_tool("docker-compose", "docker-compose")
    result = run([docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_publishes_ports_on_loopback_only_and_pins_images(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        image = service.get("image", "")
        if "build" not in service:
            repository, _, tag = image.rpartition(":")
            assert repository and tag and tag != "latest", f"{name}: image {image!r} not pinned"


def test_compose_orders_startup_and_keeps_worker_state(compose):
    services = compose["services"]
    worker = services["worker"]
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["producer"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["command"] == ["topics"] and worker["command"] == ["worker"]
    assert "healthcheck" in services["kafka"]
    data_dir = worker["environment"]["NEWSFLOW_DATA_DIR"]
    assert any(v.split(":")[1] == data_dir and v.split(":")[0] in compose["volumes"] for v in worker["volumes"])
    assert worker["environment"]["NEWSFLOW_WEB_HOST"] == "0.0.0.0"
    grace = int(worker["stop_grace_period"].rstrip("s"))
    assert grace > float(worker["environment"]["NEWSFLOW_SHUTDOWN_TIMEOUT_S"])
    for volume in services["producer"]["volumes"] + services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (REPO / source).exists(), f"compose mounts missing {source}"


def test_compose_environment_names_are_settings_the_service_reads(compose):
    known = environment_names_read_by_service()
    for name in ("topics", "worker", "producer"):
        unknown = set(compose["services"][name]["environment"]) - known
        assert not unknown, f"{name}: {sorted(unknown)} are read by nothing in streams/"


# --- Kubernetes ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    resources: dict[tuple[str, str], dict] = {}
    for name in kustomization["resources"]:
        for doc in load_yaml_documents(K8S_DIR / name):
            resources[(doc["kind"], doc["metadata"]["name"])] = doc
    return resources


def test_kustomization_lists_every_manifest_and_one_namespace():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    for name in files:
        for doc in load_yaml_documents(K8S_DIR / name):
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == kustomization["namespace"], name


def test_manifests_validate_against_kubernetes_schemas(manifests):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install -e '.[test]'")
    assert len(manifests) == 7
    for (kind, name), resource in manifests.items():
        try:
            kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{kind}/{name}: {error.message} at {'.'.join(map(str, error.path))}")


def test_strict_validation_rejects_a_misspelt_field(tmp_path):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    statefulset = yaml.safe_load((K8S_DIR / "statefulset.yaml").read_text())
    statefulset["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, K8S_VERSION, strict=True)


def test_worker_statefulset_is_shaped_for_an_always_on_consumer(manifests):
    config = manifests[("ConfigMap", "newsflow-config")]["data"]
    statefulset = manifests[("StatefulSet", "newsflow-worker")]
    spec = statefulset["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    port = int(config["NEWSFLOW_WEB_PORT"])

    assert spec["replicas"] == 2
    assert pod["terminationGracePeriodSeconds"] > float(config["NEWSFLOW_SHUTDOWN_TIMEOUT_S"])
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    instance_id = {e["name"]: e for e in container["env"]}["NEWSFLOW_INSTANCE_ID"]
    assert instance_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["envFrom"] == [{"configMapRef": {"name": "newsflow-config"}}]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    claim_names = {t["metadata"]["name"] for t in spec["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[config["NEWSFLOW_DATA_DIR"]] in claim_names
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    assert annotations["prometheus.io/path"] == "/metrics"


def test_services_and_budget_select_the_worker_pods(manifests):
    statefulset = manifests[("StatefulSet", "newsflow-worker")]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    headless = manifests[("Service", statefulset["spec"]["serviceName"])]
    assert headless["spec"]["clusterIP"] == "None"
    for service in (headless, manifests[("Service", "newsflow-metrics")]):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    budget = manifests[("PodDisruptionBudget", "newsflow-worker")]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_topics_job_runs_the_topics_command_as_non_root(manifests):
    job = manifests[("Job", "newsflow-topics")]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["topics"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["restartPolicy"] in {"OnFailure", "Never"}


def test_configmap_names_only_settings_the_service_reads(manifests):
    config = manifests[("ConfigMap", "newsflow-config")]["data"]
    unknown = set(config) - environment_names_read_by_service()
    assert not unknown, f"ConfigMap keys read by nothing in streams/: {sorted(unknown)}"


# --- container image -----------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_pins_its_base_and_dependencies_and_runs_unprivileged(manifests):
    instructions = dockerfile_instructions()
    by_kind: dict[str, list[str]] = {}
    for kind, argument in instructions:
        by_kind.setdefault(kind, []).append(argument)
    bases = by_kind["FROM"]   # the native/ wheel's build stage, then the image
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?( AS \w+)?", base), base
    assert len({base.split()[0] for base in bases}) == 1, "both stages build for the same interpreter"
    user = by_kind["USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid (runAsNonRoot checks it)"
    runs = " ".join(by_kind["RUN"])
    assert "-r /tmp/requirements.lock" in runs and "--no-deps" in runs and "pip check" in runs
    assert json.loads(by_kind["ENTRYPOINT"][-1]) == ["newsflow"]
    assert json.loads(by_kind["CMD"][-1]) == ["worker"]
    assert by_kind["EXPOSE"] == ["6066"]
    healthcheck = json.loads(by_kind["HEALTHCHECK"][-1].split(" CMD ", 1)[1])
    assert healthcheck[:2] == ["python", "-c"] and "/healthz" in healthcheck[2]
    compile(healthcheck[2], "HEALTHCHECK", "exec")  # the slim image has no curl; the probe is Python
    env = " ".join(by_kind["ENV"])
    assert "NEWSFLOW_WEB_HOST=0.0.0.0" in env and "NEWSFLOW_LOG_FORMAT=json" in env
    statefulset = manifests[("StatefulSet", "newsflow-worker")]
    assert statefulset["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)


def test_dockerignore_lets_in_exactly_what_the_image_copies():
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "**", "the context must be a whitelist: no .venv, .git, var/ or data in it"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for kind, argument in dockerfile_instructions():
        if kind == "COPY" and not argument.startswith("--from="):   # --from copies from a build stage
            copied.update(argument.split()[:-1])
    assert copied == allowed
    for path in copied:
        assert (REPO / path).exists(), path


def test_requirements_lock_pins_the_whole_runtime_closure():
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import lock_requirements
    finally:
        sys.path.pop(0)
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (REPO / "deploy" / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[canonicalize_name(requirement.name)] = specifier.version
    closure = lock_requirements.dependency_closure(lock_requirements.project_requirements())
    assert set(closure) - set(pins) == set(), "runtime dependencies missing from the lock: regenerate it"
    for requirement in lock_requirements.project_requirements():
        assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)], prereleases=True), \
            f"lock pins a version outside pyproject's {requirement}"
    assert not {"pytest", "datasketch", "kubernetes-validate"} & set(pins), "test-only packages in the image"


# --- operator's guide ----------------------------------------------------------------------------

def test_operations_guide_documents_every_setting():
    settings_source = (REPO / "streams" / "config.py").read_text()
    names = set(re.findall(r"[\"'](KAFKA_BOOTSTRAP|NEWSFLOW_[A-Z0-9_]+)[\"']", settings_source))
    assert "NEWSFLOW_INSTANCE_ID" in names
    table = OPERATORS_README.split("### Configuration", 1)[1].split("\n### ", 1)[0]
    missing = {name for name in names if f"`{name}`" not in table}
    assert not missing, f"README.md, Operations, Configuration, lacks {sorted(missing)}"
    for topic in TOPICS:
        assert f"_{topic.upper()}`" in table, topic


def test_operations_guide_describes_every_topic_the_service_creates():
    from streams.config import Settings
    from streams.topology import topic_specs

    section = OPERATORS_README.split("### Topics", 1)[1].split("\n### ", 1)[0]
    for name, (_partitions, config) in topic_specs(Settings()).items():
        assert f"`{name}`" in section, f"README.md, Operations, Topics, lacks {name}"
        if config.get("cleanup.policy") == "compact":
            assert "compacted" in section.split(f"`{name}`", 1)[1].split("\n", 1)[0], name
