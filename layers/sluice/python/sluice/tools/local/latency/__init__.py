"""AWS-like call latency on the local stack (`sluice local up --aws-latency`, `pytest --aws-latency`,
`bench/run.py --aws-latency`, or SLUICE_AWS_LATENCY=SEED for every stack a process starts): moto answers
in microseconds what AWS answers in milliseconds, so nothing local shows what a call costs a request.

Which calls: those the fault injector would fault, at the same hook point — every HTTP attempt botocore
makes in this process (`Endpoint._do_get_response`: each retry is a round trip of its own) signed by one
of the stack's principals (a function's role, a state machine's role; with IAM off a function's handler
or moto's Step Functions engine) — plus every request moto's server takes from another process (the
Fargate task, the CLI, the AWS CLI, a person's keys) and Firehose's own delivery to S3 (on its buffer's
timer). The deployer in this process (tests, the demo's driver, the stack's bookkeeping) is not delayed.

By how much: a seeded draw from a lognormal with the operation's median and p99 (`figures`, sourced in
docs/guides/local-stack.md); each operation has its own sequence for a seed, the same in every process
(`model`). Where: after the service answered, before the answer reaches the caller (from another
process: before moto handles the request); no lock is held while a call sleeps.
"""

from sluice.tools.local.latency.activation import (
    FIREHOSE_DELIVERY,
    LATENCY_ENV,
    active_latency,
    delaying,
    injecting_and_delaying,
    latency_from_env,
    round_trip,
)
from sluice.tools.local.latency.figures import DEFAULT, FIGURES, Figure, figure_for
from sluice.tools.local.latency.model import OTHER_PROCESS, AwsLatency, LatencyModel, Tally

__all__ = [
    "DEFAULT",
    "FIGURES",
    "FIREHOSE_DELIVERY",
    "LATENCY_ENV",
    "OTHER_PROCESS",
    "AwsLatency",
    "Figure",
    "LatencyModel",
    "Tally",
    "active_latency",
    "delaying",
    "figure_for",
    "injecting_and_delaying",
    "latency_from_env",
    "round_trip",
]
