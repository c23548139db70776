"""The error names Step Functions gives a Lambda task's failed invoke, which moto's engine leaves out.

A Task whose Resource is a function ARN invokes it through the Lambda API; when that call fails (the
function's concurrency is exhausted, the Lambda service faults, the call gets no answer) Step Functions
names the error `Lambda.<the API's exception>` — `Lambda.TooManyRequestsException`,
`Lambda.ServiceException`, `Lambda.SdkClientException` — which is what the state machines' Retry
fields name (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
moto names every such failure `Exception` for this form of the task (it names them right for the
`arn:aws:states:::lambda:invoke` form), so no Retry would ever match it; here it is named as on AWS.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def lambda_task_error_names() -> Iterator[None]:
    """While inside, a Lambda task's failed invoke is named `Lambda.<error code>`, as on AWS."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = StateTaskLambda._from_error

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        code = ex.response.get("Error", {}).get("Code") or "AWSLambdaException"
        metadata = ex.response.get("ResponseMetadata", {})
        error = f"Lambda.{code}"
        cause = (  # as Step Functions words it
            f"{ex.response.get('Error', {}).get('Message', '')} (Service: AWSLambda; Status Code: "
            f"{metadata.get('HTTPStatusCode')}; Error Code: {code}; Request ID: {metadata.get('RequestId')}; "
            "Proxy: null)"
        )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )

    StateTaskLambda._from_error = from_error  # type: ignore[method-assign]
    try:
        yield
    finally:
        StateTaskLambda._from_error = original  # type: ignore[method-assign]
