"""template.yaml's capture and feedback delivery: the Firehose streams write the layout the drift
check reads, and PredictFunction may only put records on them."""

from __future__ import annotations

from pathlib import Path

from sluice.tools.local.template import load_sam

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = load_sam(ROOT / "template.yaml")["Resources"]


def test_capture_streams_deliver_the_contract_layout_and_predict_may_only_put_records() -> None:
    # Given the two delivery streams: gzip JSON lines, partitioned by the record's model, under the
    # prefixes the drift check reads
    for name, kind in (("CaptureStream", "capture"), ("FeedbackStream", "feedback")):
        destination = RESOURCES[name]["Properties"]["ExtendedS3DestinationConfiguration"]
        assert destination["Prefix"] == (
            f"{kind}/!{{partitionKeyFromQuery:model}}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"
        )
        assert destination["ErrorOutputPrefix"].startswith(f"{kind}-errors/!{{firehose:error-output-type}}/")
        assert destination["CompressionFormat"] == "GZIP"
        assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
        processors = {
            p["Type"]: p["Parameters"] for p in destination["ProcessingConfiguration"]["Processors"]
        }
        assert {
            "ParameterName": "MetadataExtractionQuery",
            "ParameterValue": "{model: .model}",
        } in processors["MetadataExtraction"]
        assert processors["RecordDeAggregation"] == [
            {"ParameterName": "SubRecordType", "ParameterValue": "JSON"}
        ]
        assert destination["BufferingHints"] == {
            "IntervalInSeconds": {"Ref": "CaptureBufferSeconds"},
            "SizeInMBs": {"Ref": "CaptureBufferMB"},
        }
    # Then PredictFunction sends to those two streams and writes nothing to S3 itself
    props = RESOURCES["PredictFunction"]["Properties"]
    variables = props["Environment"]["Variables"]
    assert (variables["CAPTURE_STREAM"], variables["FEEDBACK_STREAM"]) == (
        {"Ref": "CaptureStream"},
        {"Ref": "FeedbackStream"},
    )
    statements = [s for policy in props["Policies"] if "Statement" in policy for s in policy["Statement"]]
    assert not [s for s in statements if "s3:PutObject" in s["Action"]]
    (send,) = [s for s in statements if any(a.startswith("firehose:") for a in s["Action"])]
    assert send["Action"] == ["firehose:PutRecordBatch"]
    assert send["Resource"] == [
        {"Fn::GetAtt": ["CaptureStream", "Arn"]},
        {"Fn::GetAtt": ["FeedbackStream", "Arn"]},
    ]
    # And the delivery role writes under the streams' four prefixes only
    role = RESOURCES["DeliveryRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (write,) = [s for s in role if "s3:PutObject" in s["Action"]]
    prefixes = {r["Fn::Sub"].removeprefix("${ArtifactBucket.Arn}/") for r in write["Resource"]}
    assert prefixes == {"capture/*", "feedback/*", "capture-errors/*", "feedback-errors/*"}
