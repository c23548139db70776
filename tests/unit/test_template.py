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

from sluice.tools.local.template import (
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
}
THROTTLED = "Lambda.TooManyRequestsException"
TIMEOUT_FROM_RUN = "$.rollout.timeout_seconds"  # set by PlanRollout for a manual rollout
DOMAIN_ERRORS = {
    "ValidationFailed",
    "DataUnreadable",
    "SpecError",
    "ParityFailed",
    "ExportFailed",
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
    assert {m["DefinitionUri"] for m in machines} == {
        "statemachines/train_and_promote.asl.json",
        "statemachines/batch_score.asl.json",
        "statemachines/monitoring.asl.json",
    }
    for machine in machines:
        substitutions = set(machine["DefinitionSubstitutions"])
        used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", (ROOT / machine["DefinitionUri"]).read_text()))
        assert used, f"{machine['DefinitionUri']} references no substitution at all"
        assert used == substitutions, machine["DefinitionUri"]


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
    # (each integration's own transient errors, for every task: test_state_machine_retries.py)
    tasks = {n: s for n, s in ASL["States"].items() if s["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        # A timeout of its own, or (AwaitApproval) the run's: the spec's rollout.timeout_hours.
        assert state.get("TimeoutSeconds", 0) > 0 or state["TimeoutSecondsPath"] == TIMEOUT_FROM_RUN, name
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), f"{name} has no catch-all"
        if not (state["Resource"].endswith("FunctionArn}") or ":::lambda:" in state["Resource"]):
            continue  # not a Lambda task
        retriers = [r for r in state["Retry"] if set(r["ErrorEquals"]) >= LAMBDA_ERRORS]
        assert retriers, name
        assert retriers[0]["BackoffRate"] > 1 and retriers[0]["JitterStrategy"] == "FULL"
        # A task throttled by the training functions' reserved concurrency waits its turn (minutes), not
        # the few seconds a transient Lambda error gets: a flood of uploads queues instead of failing.
        throttled = next(r for r in state["Retry"] if THROTTLED in r["ErrorEquals"])
        waits = [
            min(throttled["IntervalSeconds"] * throttled["BackoffRate"] ** i, throttled["MaxDelaySeconds"])
            for i in range(throttled["MaxAttempts"])
        ]
        assert sum(waits) >= 3600, f"{name} gives up on throttling after {sum(waits):.0f} s"


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


# ------------------------------------------------------------------ auth, SnapStart, security
PARAMETERS: dict[str, Any] = SAM["Parameters"]
API_BODY: dict[str, Any] = RESOURCES["PredictionApi"]["Properties"]["DefinitionBody"]


def test_api_auth_is_a_parameter_with_iam_by_default_and_api_key_as_the_alternative() -> None:
    assert PARAMETERS["ApiAuth"]["Default"] == "AWS_IAM"
    assert PARAMETERS["ApiAuth"]["AllowedValues"] == ["AWS_IAM", "API_KEY"]
    assert SAM["Conditions"]["UseApiKey"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "API_KEY"]}
    assert SAM["Conditions"]["UseIam"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "AWS_IAM"]}


def test_api_key_mode_has_a_usage_plan_with_rate_burst_and_daily_quota_parameters() -> None:
    for name in ("PredictionApiKey", "PredictionApiUsagePlan", "PredictionApiUsagePlanKey"):
        assert RESOURCES[name]["Condition"] == "UseApiKey", name
    plan = RESOURCES["PredictionApiUsagePlan"]["Properties"]
    assert plan["Throttle"] == {
        "RateLimit": {"Ref": "ApiKeyRateLimit"},
        "BurstLimit": {"Ref": "ApiKeyBurstLimit"},
    }
    assert plan["Quota"] == {"Limit": {"Ref": "ApiKeyDailyQuota"}, "Period": "DAY"}


def test_the_api_logs_access_to_an_encrypted_log_group() -> None:
    api = RESOURCES["PredictionApi"]["Properties"]
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    group = RESOURCES["ApiAccessLogGroup"]["Properties"]
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["SluiceKey", "Arn"]}
    assert group["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}


def test_the_local_deploy_strips_api_gateway_and_the_alias_in_both_auth_modes() -> None:
    for mode in ("AWS_IAM", "API_KEY"):
        local = translate(
            ROOT / "template.yaml", code_bucket="code", region="us-east-1", parameters={"ApiAuth": mode}
        )
        kinds = {r["Type"] for r in local.cloudformation["Resources"].values()}
        assert not any(k.startswith("AWS::ApiGateway::") or k == "AWS::Lambda::Alias" for k in kinds)
        assert {"PredictionApiUsagePlan", "PredictionApiKey", "ApiGatewayAccount"} <= set(
            local.served_locally
        )
        assert "AWS::Lambda::Version" in kinds  # SnapStart's published version is still created
        assert "DependsOn" not in local.cloudformation["Resources"]["ApiAccessLogGroup"]


def _rules(bucket: str) -> dict[str, dict[str, Any]]:
    rules = RESOURCES[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    return {rule.get("Prefix", ""): rule for rule in rules}


def test_lifecycle_expires_traffic_feedback_and_reports_and_keeps_the_rest() -> None:
    rules = _rules("ArtifactBucket")
    assert rules["capture/"]["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
    assert rules["feedback/"]["ExpirationInDays"] == {"Ref": "FeedbackRetentionDays"}
    assert rules["capture-errors/"]["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
    assert rules["feedback-errors/"]["ExpirationInDays"] == {"Ref": "FeedbackRetentionDays"}
    assert rules["drift/"]["ExpirationInDays"] == {"Ref": "DriftReportRetentionDays"}
    assert (
        PARAMETERS["CaptureRetentionDays"]["Default"],
        PARAMETERS["FeedbackRetentionDays"]["Default"],
    ) == (
        90,
        365,
    )
    assert PARAMETERS["DriftReportRetentionDays"]["Default"] == 365
    quarantine = rules["quarantine/"]
    assert "ExpirationInDays" not in quarantine
    assert quarantine["Transitions"] == [
        {"StorageClass": "GLACIER_IR", "TransitionInDays": {"Ref": "QuarantineTransitionDays"}}
    ]
    for bucket in ("RawBucket", "ArtifactBucket"):
        whole = _rules(bucket)[""]  # the rule without a prefix: never expires current objects
        assert "ExpirationInDays" not in whole, bucket
        assert whole["NoncurrentVersionExpiration"] == {
            "NoncurrentDays": {"Ref": "NoncurrentVersionRetentionDays"}
        }
        assert set(_rules(bucket)) <= {
            "",
            "capture/",
            "feedback/",
            "capture-errors/",
            "feedback-errors/",
            "drift/",
            "quarantine/",
        }


def test_topic_and_queue_use_a_rotated_customer_key_that_cloudwatch_can_use() -> None:
    key = RESOURCES["SluiceKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = {
        service
        for statement in key["KeyPolicy"]["Statement"]
        if "kms:GenerateDataKey*" in statement["Action"]
        for service in statement["Principal"].get("Service", [])
    }
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com", "states.amazonaws.com"} <= services
    assert RESOURCES["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "SluiceKey"}
    assert RESOURCES["IngestDeadLetterQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "SluiceKey"}
    # whoever publishes to the topic may use the key
    for name, resource in RESOURCES.items():
        policies = resource.get("Properties", {}).get("Policies", [])
        if any("SNSPublishMessagePolicy" in p for p in policies if isinstance(p, dict)):
            statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
            assert any(
                s["Resource"] == {"Fn::GetAtt": ["SluiceKey", "Arn"]} and "kms:GenerateDataKey" in s["Action"]
                for s in statements
            ), name


def test_training_and_ingestion_have_reserved_concurrency() -> None:
    for name in ("TrainFunction", "ExportFunction", "EvaluateFunction", "RegisterFunction"):
        assert RESOURCES[name]["Properties"]["ReservedConcurrentExecutions"] == {"Ref": "TrainingConcurrency"}
    assert RESOURCES["IngestFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Ref": "IngestConcurrency"
    }
    assert "ReservedConcurrentExecutions" not in RESOURCES["PredictFunction"]["Properties"]


def test_every_function_and_layer_targets_python312() -> None:
    assert SAM["Globals"]["Function"]["Runtime"] == "python3.12"
    for name, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        if resource["Type"] == SERVERLESS_FUNCTION:
            assert props.get("Runtime", "python3.12") == "python3.12", name
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            assert props["CompatibleRuntimes"] == ["python3.12"], name


def test_live_quality_alarm_fires_when_any_model_is_below_its_gate_and_reads_like_drift_alarm() -> None:
    drift, live = (RESOURCES[name]["Properties"] for name in ("DriftAlarm", "LiveQualityAlarm"))
    # Given the drift check's service-level LiveMetricBelowMinimum, when any model's is 1, then it fires
    assert (live["Namespace"], live["MetricName"]) == ("Sluice", "LiveMetricBelowMinimum")
    assert (live["Statistic"], live["Threshold"]) == ("Maximum", 1)
    assert live["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # And it reads as DriftAlarm does: service dimension, hourly, missing data not breaching, to the topic
    for key in ("Dimensions", "Period", "EvaluationPeriods", "TreatMissingData", "AlarmActions"):
        assert live[key] == drift[key], key


def test_estimated_quality_alarm_fires_when_any_models_estimate_is_below_its_gate() -> None:
    live, estimated = (
        RESOURCES[name]["Properties"] for name in ("LiveQualityAlarm", "EstimatedQualityAlarm")
    )
    # Given the drift check's service-level EstimatedMetricBelowGate, when any model's is 1, then it fires
    assert (estimated["Namespace"], estimated["MetricName"]) == ("Sluice", "EstimatedMetricBelowGate")
    # And it reads as LiveQualityAlarm does (the same statistic, threshold, period, topic)
    for key in (
        "Statistic",
        "Threshold",
        "ComparisonOperator",
        "Dimensions",
        "Period",
        "EvaluationPeriods",
        "TreatMissingData",
        "AlarmActions",
    ):
        assert estimated[key] == live[key], key
