"""AWS's answers to a faulted call, per service, built in its protocol and parsed by botocore."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sluice.tools.local.faults.kinds import THROTTLING


@dataclass(frozen=True)
class ServiceError:
    """An error a service answers with: its code, HTTP status and AWS's message."""

    code: str
    status: int
    message: str


_RATE = "Rate exceeded"
THROTTLES: dict[str, tuple[ServiceError, ...]] = {
    "dynamodb": (
        ServiceError("ThrottlingException", 400, "Rate of requests exceeds the allowed throughput."),
        ServiceError(
            "ProvisionedThroughputExceededException",
            400,
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing "
            "your provisioning level with the UpdateTable API.",
        ),
    ),
    "s3": (ServiceError("SlowDown", 503, "Please reduce your request rate."),),
    "sns": (ServiceError("Throttled", 429, _RATE),),  # ThrottledException
    "firehose": (
        ServiceError(
            "ServiceUnavailableException",
            503,
            "Slow down. The service is unavailable or the delivery stream's throughput limits were exceeded.",
        ),
        ServiceError("ThrottlingException", 400, _RATE),
    ),
    "stepfunctions": (ServiceError("ThrottlingException", 400, _RATE),),
    "ecs": (ServiceError("ThrottlingException", 400, _RATE),),
    "lambda": (ServiceError("TooManyRequestsException", 429, "Rate Exceeded."),),
    "sts": (ServiceError("Throttling", 400, _RATE),),
}
_INTERNAL = ServiceError(
    "InternalFailure",
    500,
    "The request processing has failed because of an unknown error, exception or failure.",
)
_UNAVAILABLE = ServiceError(
    "ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."
)
SERVER_ERRORS: dict[str, tuple[ServiceError, ...]] = {
    "dynamodb": (ServiceError("InternalServerError", 500, "Internal server error"),),
    "s3": (
        ServiceError("InternalError", 500, "We encountered an internal error. Please try again."),
        ServiceError("ServiceUnavailable", 503, "Service is unable to handle request."),
    ),
    "sns": (ServiceError("InternalError", 500, "Internal Error"),),
    "ecs": (ServiceError("ServerException", 500, "Service unavailable. Try again later."),),
    "lambda": (
        ServiceError("ServiceException", 500, "The AWS Lambda service encountered an internal error."),
    ),
}
DEFAULT_THROTTLE = {"query": ServiceError("Throttling", 400, _RATE)}
DEFAULT_THROTTLE_JSON = ServiceError("ThrottlingException", 400, _RATE)
PROTOCOLS = frozenset({"json", "rest-json", "query", "rest-xml"})


def service_error(kind: str, service: str, protocol: str, rng: random.Random) -> ServiceError:
    """The error `service` answers for a fault of `kind` (throttling or server_error)."""
    if kind == THROTTLING:
        choices = THROTTLES.get(service) or (DEFAULT_THROTTLE.get(protocol, DEFAULT_THROTTLE_JSON),)
    else:
        choices = SERVER_ERRORS.get(service) or (_INTERNAL, _UNAVAILABLE)
    return choices[rng.randrange(len(choices))]


class _Body:
    """A response body as botocore reads one (`stream()`, `read()`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        if self._data:
            yield self._data
        self._data = b""

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def error_body(
    protocol: str, service_model: Any, error: ServiceError, request_id: str, head: bool
) -> tuple[dict[str, str], bytes]:
    """Headers and body of `error` as the service sends it in its protocol."""
    if protocol == "json":
        version = service_model.metadata.get("jsonVersion", "1.0")
        headers = {"x-amzn-RequestId": request_id, "Content-Type": f"application/x-amz-json-{version}"}
        body = {
            "__type": f"com.amazonaws.{service_model.service_name}#{error.code}",
            "message": error.message,
        }
        return headers, json.dumps(body).encode()
    if protocol == "rest-json":
        headers = {
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": f"{error.code}:",
            "Content-Type": "application/json",
        }
        kind = "User" if error.status < 500 else "Service"
        return headers, json.dumps({"Type": kind, "message": error.message}).encode()
    if protocol == "query":
        namespace = service_model.metadata.get("xmlNamespace", "")
        fault = "Sender" if error.status < 500 else "Receiver"
        text = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type><Code>{error.code}</Code>'
            f"<Message>{error.message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}, text.encode()
    # rest-xml (S3): a HEAD's error has no body (the SDK names it by its status)
    headers = {"x-amz-request-id": request_id, "x-amz-id-2": request_id, "Content-Type": "application/xml"}
    if head:
        return headers, b""
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{error.message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
    )
    return headers, text.encode()


def parsed_error(
    endpoint: Any, request: Any, operation_model: Any, error: ServiceError, request_id: str
) -> tuple[Any, Any]:
    """What `Endpoint._do_get_response` returns for `error`: the HTTP response and botocore's parse of
    it, as for a response from the service."""
    from botocore.awsrequest import AWSResponse, HeadersDict
    from botocore.endpoint import convert_to_response_dict

    protocol = operation_model.service_model.resolved_protocol
    headers, body = error_body(
        protocol, operation_model.service_model, error, request_id, request.method == "HEAD"
    )
    http_response = AWSResponse(request.url, error.status, HeadersDict(headers), _Body(body))  # type: ignore[arg-type]
    response_dict = convert_to_response_dict(http_response, operation_model)
    parser = endpoint._response_parser_factory.create_parser(protocol)
    parsed = parser.parse(response_dict, operation_model.output_shape)
    endpoint._add_modeled_error_fields(response_dict, parsed, operation_model, parser)
    return (http_response, parsed), None


def sdk_client_exception(operation_model: Any, what: str, request_id: str) -> Exception:
    """A call from a state machine's integration that got no answer, as Step Functions names it."""
    from botocore.exceptions import ClientError

    response: Any = {
        "Error": {"Code": "SdkClientException", "Message": f"Unable to execute HTTP request: {what}"},
        "ResponseMetadata": {"HTTPStatusCode": 0, "RequestId": request_id},
    }
    return ClientError(response, operation_model.name)
