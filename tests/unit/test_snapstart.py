"""PredictFunction's SnapStart hooks, run the way Lambda runs them: the handler module imports, the
before-snapshot hooks run, then copies of that process resume (here: os.fork) and each runs the
after-restore hooks. `snapshot_restore_py` is the Lambda runtime's module; the child gets a stand-in
that only records what is registered."""

from __future__ import annotations

from pathlib import Path

from tests.unit.child_handler import PREDICT_VARIABLES, run_child

FAKE_RUNTIME_MODULE = '''
"""Stand-in for the Lambda runtime's snapshot_restore_py: records the registered hooks."""
before = []
after = []


def register_before_snapshot(func, *args, **kwargs):
    before.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    after.append((func, args, kwargs))
    return func
'''

CHILD = """
import json, os, random, sys
sys.path[:0] = [FAKE, FUNCTION]
import snapshot_restore_py as runtime
import app
from sluice import adapters
from sluice.observability import metrics

registered = {
    "before": [f.__name__ for f, _, _ in runtime.before],
    "after": [f.__name__ for f, _, _ in runtime.after],
}
for func, args, kwargs in reversed(runtime.before):  # Lambda: reverse order of registration
    func(*args, **kwargs)
snapshot_client = adapters.client("s3")
snapshot_deps = app.app.container.deps
metrics.add_metric(name="LeftInTheSnapshot", unit="Count", value=1)
event = json.loads(open(EVENT).read())
snapshot_random = random.getstate()


class Context:
    function_name = "PredictFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id = "restored"
    function_version = "1"

    def get_remaining_time_in_millis(self):
        return 10_000


def resume(copy, restore):
    read, write = os.pipe()
    if os.fork() == 0:
        # A restored copy has the snapshot's memory as it was; fork differs in one way: Python reseeds
        # `random` in a forked child (os.register_at_fork), so put the snapshot's state back.
        random.setstate(snapshot_random)
        os.environ["AWS_ACCESS_KEY_ID"] = f"RESTORED{copy}"  # Lambda sets the copy's own credentials
        if restore:
            for func, args, kwargs in runtime.after:
                func(*args, **kwargs)
        client = adapters.client("s3")
        deps = app.app.container.deps
        state = {
            "random": random.random(),
            "same_client": client is snapshot_client,
            # the app's deps (the artifact store: its S3 client) as the next request finds them
            "same_deps": deps is snapshot_deps,
            "deps_client_is_current": deps.artifacts._s3 is client,
            # botocore keeps the resolved credentials on the client's request signer
            "access_key": client._request_signer._credentials.access_key,
            "metrics": sorted(metrics.metric_set),
            "openapi": app.lambda_handler(dict(event), Context())["statusCode"],
        }
        os.write(write, json.dumps(state).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        state = json.loads(pipe.read())
    os.wait()
    return state


print(json.dumps({
    "registered": registered,
    "restored": [resume(1, True), resume(2, True)],
    "not_restored": [resume(3, False), resume(4, False)],
}))
"""


def run_snapshot_and_restores(tmp_path: Path) -> dict[str, object]:
    fake = tmp_path / "runtime"
    fake.mkdir()
    (fake / "snapshot_restore_py.py").write_text(FAKE_RUNTIME_MODULE)
    return run_child(
        CHILD.replace("FAKE", repr(str(fake))),
        {
            **PREDICT_VARIABLES,
            "AWS_ACCESS_KEY_ID": "SNAPSHOT",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_METRICS_NAMESPACE": "Sluice",
        },
        tmp_path,
    )


def test_each_restored_copy_gets_its_own_clients_credentials_random_state_and_metrics(
    tmp_path: Path,
) -> None:
    # Given the predict handler imported where the runtime's snapshot_restore_py exists, its
    # before-snapshot hook run, and two copies resumed from that process with the after-restore hooks
    document = run_snapshot_and_restores(tmp_path)
    restored, not_restored = document["restored"], document["not_restored"]
    assert isinstance(restored, list) and isinstance(not_restored, list)

    # Then the handler registered one hook of each kind
    assert document["registered"] == {"before": ["before_snapshot"], "after": ["after_restore"]}
    # And each restored copy uses a new boto3 client, signed with the credentials it was restored with
    assert [c["same_client"] for c in restored] == [False, False]
    assert [c["access_key"] for c in restored] == ["RESTORED1", "RESTORED2"]
    # And the app's deps, built before the snapshot, were built again with those clients by the hook
    assert [c["same_deps"] for c in restored] == [False, False]
    assert [c["deps_client_is_current"] for c in restored] == [True, True]
    # And their random states differ (capture sampling), and no metric left in the snapshot is flushed
    assert restored[0]["random"] != restored[1]["random"]
    assert [c["metrics"] for c in restored] == [[], []]
    # And each restored copy answers
    assert [c["openapi"] for c in restored] == [200, 200]

    # While copies resumed without the hook would share the random state and the metrics (what the hook
    # is for); their clients follow the credentials in the environment even then, since the client
    # cache is keyed on them (a client never signs with credentials other than the current ones)
    assert [c["same_client"] for c in not_restored] == [False, False]
    assert [c["access_key"] for c in not_restored] == ["RESTORED3", "RESTORED4"]
    assert not_restored[0]["random"] == not_restored[1]["random"]
    assert not_restored[0]["metrics"] == ["LeftInTheSnapshot"]
    # but the app's deps would keep signing with the snapshot's client: what the hook rebuilds them for
    assert [c["same_deps"] for c in not_restored] == [True, True]
    assert [c["deps_client_is_current"] for c in not_restored] == [False, False]
