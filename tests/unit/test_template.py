"""template.yaml and the state machine: substitutions, declared environment, retries, least privilege,
and the dependency-cycle check of the local deploy."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from sluice.local.template import (
    SERVERLESS_FUNCTION,
    DependencyCycle,
    load_sam,
    substitute_definition,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]
SAM = load_sam(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = SAM["Resources"]
ASL_TEXT = (ROOT / "statemachines" / "train_and_promote.asl.json").read_text()
ASL = json.loads(ASL_TEXT)
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
DOMAIN_ERRORS = {
    "ValidationFailed",
    "DataUnreadable",
    "SpecError",
    "ParityFailed",
    "ExportFailed",
    "GatesFailed",
}


def functions() -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == SERVERLESS_FUNCTION}


def declared_env(props: dict[str, Any]) -> set[str]:
    shared = SAM["Globals"]["Function"]["Environment"]["Variables"]
    own = props.get("Environment", {}).get("Variables", {})
    return set(shared) | set(own)


def settings_class(props: dict[str, Any]) -> Any:
    path = ROOT / props["CodeUri"] / "app.py"
    spec = importlib.util.spec_from_file_location(f"template_check_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Settings


def test_every_substitution_in_the_state_machine_is_defined_and_used() -> None:
    machines = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::StateMachine"]
    assert len(machines) == 1
    substitutions = set(machines[0]["DefinitionSubstitutions"])
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", ASL_TEXT))
    assert used, "the definition references no substitution at all"
    assert used == substitutions


def test_substitution_keeps_json_paths_and_context_paths() -> None:
    text = '{"a.$": "$$.Execution.Id", "b.$": "$.run", "c": "${Fn}"}'
    assert (
        substitute_definition(text, {"Fn": "arn:fn"}, "x")
        == '{"a.$": "$$.Execution.Id", "b.$": "$.run", "c": "arn:fn"}'
    )
    with pytest.raises(Exception, match="Missing"):
        substitute_definition('{"c": "${Missing}"}', {}, "x")


@pytest.mark.parametrize("name", sorted(functions()))
def test_every_variable_a_function_reads_is_declared_in_the_template(name: str) -> None:
    props = functions()[name]
    read = {field.upper() for field in settings_class(props).model_fields}
    assert read <= declared_env(props), f"{name} reads undeclared {sorted(read - declared_env(props))}"


def test_env_json_only_overrides_declared_variables() -> None:
    env = json.loads((ROOT / "env.json").read_text())
    shared = set(SAM["Globals"]["Function"]["Environment"]["Variables"])
    assert set(env.pop("Parameters", {})) <= shared
    for name, overrides in env.items():
        assert name in functions()
        assert set(overrides) <= declared_env(functions()[name])


def test_every_task_has_a_timeout_and_retries_lambda_service_errors_with_jitter() -> None:
    tasks = {n: s for n, s in ASL["States"].items() if s["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        assert state["TimeoutSeconds"] > 0, name
        retriers = [r for r in state["Retry"] if set(r["ErrorEquals"]) >= LAMBDA_ERRORS]
        assert retriers, name
        assert retriers[0]["BackoffRate"] > 1 and retriers[0]["JitterStrategy"] == "FULL"
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), f"{name} has no catch-all"


def test_domain_failures_are_caught_into_the_rejected_path_and_the_rest_into_failed() -> None:
    for name in ("Train", "ExportAndCheckParity", "Evaluate"):
        catches = ASL["States"][name]["Catch"]
        domain = next(c for c in catches if set(c["ErrorEquals"]) >= DOMAIN_ERRORS)
        assert domain["Next"] == "RegisterRejected"
        assert catches[-1] == {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.error",
            "Next": "RegisterFailed",
        }
    assert ASL["States"]["Gate"]["Default"] == "RegisterRejected"
    assert ASL["States"]["RegisterFailed"]["Next"] == "NotifyFailed"
    assert ASL["States"]["NotifyFailed"]["Next"] == "Failed"


def test_outputs_name_the_stack_resources() -> None:
    assert set(SAM["Outputs"]) >= {
        "RawBucketName",
        "ArtifactBucketName",
        "RegistryTableName",
        "TrainingStateMachineArn",
        "NotificationTopicArn",
    }


def test_no_policy_allows_every_action_on_every_resource() -> None:
    translated = translate(ROOT / "template.yaml", code_bucket="code", region="us-east-1").cloudformation
    statements = [
        statement
        for resource in translated["Resources"].values()
        if resource["Type"] == "AWS::IAM::Role"
        for policy in resource["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        wildcard_action = any(a == "*" or a.endswith(":*") for a in actions)
        assert not (wildcard_action and "*" in resources), statement


def test_buckets_are_encrypted_versioned_private_and_tls_only() -> None:
    for name in ("RawBucket", "ArtifactBucket"):
        props = RESOURCES[name]["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        policy = RESOURCES[f"{name}Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
        assert policy["Effect"] == "Deny" and policy["Condition"] == {
            "Bool": {"aws:SecureTransport": "false"}
        }


def test_an_s3_notification_on_the_raw_bucket_is_reported_as_a_cycle_by_resource_names(
    tmp_path: Path,
) -> None:
    # Given the template with the classic S3 -> Lambda event instead of EventBridge
    for folder in ("functions", "layers", "statemachines"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    text = (ROOT / "template.yaml").read_text()
    classic = text.replace(
        "      Events:\n        RawUpload:\n",
        "      Events:\n        RawS3:\n          Type: S3\n          Properties:\n"
        "            Bucket: !Ref RawBucket\n            Events: s3:ObjectCreated:*\n        RawUpload:\n",
    )
    classic = classic.replace(
        "      NotificationConfiguration:\n        EventBridgeConfiguration:\n          EventBridgeEnabled: true\n",
        "",
    )
    assert classic != text
    (tmp_path / "template.yaml").write_text(classic)

    # When it is prepared for the local deploy
    with pytest.raises(DependencyCycle) as raised:
        translate(tmp_path / "template.yaml", code_bucket="code", region="us-east-1")

    # Then the error names the resources in the loop
    assert "RawBucket" in raised.value.cycle
    assert any(name.startswith("IngestFunction") for name in raised.value.cycle)
    assert raised.value.cycle[0] == raised.value.cycle[-1]
    assert " -> " in str(raised.value)


def test_the_translated_template_has_no_cycle_and_inlines_the_substitutions() -> None:
    translated = translate(ROOT / "template.yaml", code_bucket="code", region="us-east-1").cloudformation
    machine = translated["Resources"]["TrainAndPromote"]["Properties"]
    assert "DefinitionSubstitutions" not in machine
    parts = machine["DefinitionString"]["Fn::Join"][1]
    assert {"Fn::GetAtt": ["TrainFunction", "Arn"]} in parts
    assert "${" not in "".join(p for p in parts if isinstance(p, str))


def test_local_folders_exist_for_every_function_and_layer() -> None:
    for name, resource in RESOURCES.items():
        uri = resource.get("Properties", {}).get("CodeUri") or resource.get("Properties", {}).get(
            "ContentUri"
        )
        if uri:
            assert (ROOT / uri).is_dir(), name
    assert shutil.which("make") is not None
