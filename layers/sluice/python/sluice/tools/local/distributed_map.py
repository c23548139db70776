"""Step Functions' Distributed Map as AWS runs it, where moto's ASL engine (5.2) falls short.

What moto does (read in moto/stepfunctions/parser/asl/component/state/exec/state_map/):
- `"ProcessorConfig": {"Mode": "DISTRIBUTED"}`, `ItemReader` with `arn:aws:states:::s3:getObject` and
  `ReaderConfig: {InputType: CSV, CSVHeaderLocation: FIRST_ROW}`: supported. The whole object is read
  into memory and each row becomes a JSON object of strings keyed by the header (a short row gets ""
  for its missing cells, duplicate headers fail with States.ItemReaderFailed), as on AWS.
- `ItemSelector` (with `$$.Map.Item.Index` / `$$.Map.Item.Value`) and `MaxConcurrency`: supported;
  each child runs on a thread of its own, at most MaxConcurrency at once (one per item when 0).
- `ItemBatcher`: NOT in moto's grammar: a definition that has it is rejected (InvalidDefinition).
- `ToleratedFailurePercentage` / `ToleratedFailureCount`: parsed (an integer percentage such as `20`
  is refused: its grammar wants `20.0`) and recorded on the map run, never enforced: a failed child
  leaves `null` in the Map's output and the Map succeeds whatever fails.
- `ResultWriter` (`s3:putObject`): writes only a `manifest.json` whose ResultFiles are empty (no
  SUCCEEDED_n.json / FAILED_n.json) and answers {MapRunArn, ResultWriterDetails} as AWS does.

What `distributed_map_patches` adds, as AWS documents it:
- ItemBatcher: `MaxItemsPerBatch` and `MaxInputBytesPerBatch` (literal or `...Path`). ItemSelector is
  applied to each item first (so `$$.Map.Item.Index` is the item's index in the whole dataset), then
  items are grouped and each child receives `{"BatchInput": ..., "Items": [...]}`, `BatchInput` only
  when declared (its `key.$` values are paths into the Map state's input, or `$$.` the context).
  MaxConcurrency then bounds concurrent batches.
- Tolerated failures: a child that fails counts each of its items as failed; when the failed items
  exceed ToleratedFailureCount or ToleratedFailurePercentage of all items (with neither declared,
  any failure), the map run fails with `States.ExceedToleratedFailureThreshold`, which Retry/Catch
  see like any other error.

And one speed-up, which changes nothing an execution does: moto parses the definition again for every
execution (ANTLR in pure Python: ~0.3 s for TrainAndPromote's); here each definition is parsed once and
its program shared by the executions of that definition. A parsed program holds nothing of an execution
(what one execution changes lives in its Environment and in the iteration workers each Map run creates).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TOLERANCE_EXCEEDED = "States.ExceedToleratedFailureThreshold"
PARSED_KEPT = 64  # parsed definitions kept (a stack has three state machines)


@dataclass(frozen=True)
class DistributedMapConfig:
    """What moto drops from a DISTRIBUTED Map state's definition, kept to apply when it runs."""

    batcher: dict[str, Any] | None
    item_selector: dict[str, Any] | None  # as written (moto keeps and evaluates it too)
    tolerated_count: int | str | None  # a number, or a `...Path` into the state's input
    tolerated_percentage: float | str | None


def strip_distributed_maps(definition: dict[str, Any]) -> dict[str, DistributedMapConfig]:
    """Remove from `definition` (in place) what moto's parser rejects or ignores in DISTRIBUTED Map
    states, returning it by state name."""
    found: dict[str, DistributedMapConfig] = {}
    for name, state in (definition.get("States") or {}).items():
        if not isinstance(state, dict) or state.get("Type") != "Map":
            continue
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        if isinstance(processor, dict):
            found.update(strip_distributed_maps(processor))
        mode = (processor.get("ProcessorConfig") or {}).get("Mode") if isinstance(processor, dict) else None
        if mode != "DISTRIBUTED":
            continue
        found[name] = DistributedMapConfig(
            batcher=state.pop("ItemBatcher", None),
            item_selector=state.get("ItemSelector"),
            tolerated_count=_pop_either(state, "ToleratedFailureCount"),
            tolerated_percentage=_pop_either(state, "ToleratedFailurePercentage"),
        )
    return found


def _pop_either(state: dict[str, Any], field: str) -> Any:
    """The field's literal or its `...Path`, removed from the state (moto's grammar refuses an integer
    ToleratedFailurePercentage, which AWS accepts, and enforces neither)."""
    literal, path = state.pop(field, None), state.pop(field + "Path", None)
    return literal if literal is not None else path


_SIMPLE_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _simple(path: str) -> bool:
    """A path of plain field names (`$`, `$.a.b`, `$$.Map.Item.Index`), walked without JSONPath."""
    return bool(_SIMPLE_PATH.match(path[1:] if path.startswith("$$") else path))


def _path_value(path: str, state_input: Any, context: Any) -> Any:
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    data, path = (context, path[1:]) if path.startswith("$$") else (state_input, path)
    if not _SIMPLE_PATH.match(path):
        return extract_json(path, data)
    for name in path.split(".")[1:]:
        data = data[name]
    return data


def _all_simple(template: Any) -> bool:
    if isinstance(template, dict):
        return all(
            _simple(v) if k.endswith(".$") and isinstance(v, str) else _all_simple(v)
            for k, v in template.items()
        )
    if isinstance(template, list):
        return all(_all_simple(v) for v in template)
    return True


def _resolved(template: Any, state_input: Any, context: Any) -> Any:
    """A payload template (`key.$` values are paths) resolved against the state's input and context."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = _path_value(value, state_input, context)
            else:
                out[key] = _resolved(value, state_input, context)
        return out
    if isinstance(template, list):
        return [_resolved(v, state_input, context) for v in template]
    return template


def _number(declared: Any, state_input: Any, context: Any) -> float | None:
    if declared is None:
        return None
    if isinstance(declared, str):
        return float(_path_value(declared, state_input, context))
    return float(declared)


def batches_of(
    items: list[Any], batcher: dict[str, Any], state_input: Any, context: Any
) -> list[dict[str, Any]]:
    """Items grouped as ItemBatcher groups them: a batch closes at MaxItemsPerBatch items or before
    MaxInputBytesPerBatch bytes of JSON (with neither, every item in one batch)."""
    max_items = _number(
        batcher.get("MaxItemsPerBatch", batcher.get("MaxItemsPerBatchPath")), state_input, context
    )
    max_bytes = _number(
        batcher.get("MaxInputBytesPerBatch", batcher.get("MaxInputBytesPerBatchPath")), state_input, context
    )
    batch_input = _resolved(batcher["BatchInput"], state_input, context) if "BatchInput" in batcher else None
    groups: list[list[Any]] = []
    size = 0
    for item in items:
        item_bytes = len(json.dumps(item, separators=(",", ":"))) if max_bytes else 0
        full = groups and (
            (max_items and len(groups[-1]) >= max_items) or (max_bytes and size + item_bytes > max_bytes)
        )
        if not groups or full:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += item_bytes
    return [{**({"BatchInput": batch_input} if batch_input is not None else {}), "Items": g} for g in groups]


def tolerance_exceeded(failed: int, total: int, count: float | None, percentage: float | None) -> bool:
    """Whether `failed` of `total` items is beyond what the Map tolerates (nothing, by default)."""
    if failed == 0:
        return False
    if count is None and percentage is None:
        return True
    over_count = count is not None and failed > count
    over_percentage = percentage is not None and 100.0 * failed / max(total, 1) > percentage
    return over_count or over_percentage


def _attach(states: Any, configs: dict[str, DistributedMapConfig]) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    for name, state in states.states.items():
        if isinstance(state, StateMap):
            component = state.iteration_component
            if name in configs:
                component._sluice_map = configs[name]  # type: ignore[attr-defined]
            inner = getattr(component, "_states", None)
            if inner is not None:
                _attach(inner, configs)


@contextlib.contextmanager
def distributed_map_patches() -> Iterator[None]:
    """Patch moto's ASL parser and Distributed Map run with ItemBatcher and tolerated failures."""
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original_parse = AmazonStateLanguageParser.parse
    original_map_run = DistributedIterationComponent._map_run

    parsed: dict[str, Any] = {}  # definition -> (program, tree), oldest first

    def parse(definition: str) -> Any:
        known = parsed.get(definition)
        if known is None:  # a definition that fails to parse raises each time, as before
            known = parse_once(definition)
            while len(parsed) >= PARSED_KEPT:
                parsed.pop(next(iter(parsed)), None)
            parsed[definition] = known
        return known

    def parse_once(definition: str) -> Any:
        try:
            document = json.loads(definition)
        except ValueError:
            return original_parse(definition)
        configs = strip_distributed_maps(document) if isinstance(document, dict) else {}
        if not configs:
            return original_parse(definition)
        program, tree = original_parse(json.dumps(document))
        _attach(program.states, configs)  # type: ignore[attr-defined]
        return program, tree

    def select(
        env: Any, eval_input: Any, config: DistributedMapConfig, items: list[Any], state_input: Any
    ) -> list[Any]:
        if eval_input.item_selector is None:
            return items
        if config.item_selector is not None and _all_simple(config.item_selector):
            # moto evaluates each path with jsonpath-ng, ~1.7 ms an item: plain field paths are
            # walked here instead, with the same result (anything else goes through moto below)
            context = env.states.context_object.context_object_data
            return [
                _resolved(
                    config.item_selector,
                    state_input,
                    {**context, "Map": {"Item": {"Index": i, "Value": item}}},
                )
                for i, item in enumerate(items)
            ]
        frame = env.open_inner_frame()
        try:
            selected = []
            for index, item in enumerate(items):
                frame.states.context_object.context_object_data["Map"] = MapData(
                    Item=ItemData(Index=index, Value=item)
                )
                frame.states.reset(input_value=state_input)
                frame.stack.append(state_input)
                eval_input.item_selector.eval(frame)
                selected.append(frame.stack.pop())
            return selected
        finally:
            env.delete_frame(frame)

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        config: DistributedMapConfig | None = getattr(self, "_sluice_map", None)
        if config is None:
            return original_map_run(self, env, eval_input)
        items: list[Any] = env.stack.pop()
        state_input = env.states.get_input()
        context = env.states.context_object.context_object_data
        jobs = items
        sizes = [1] * len(items)
        run_input = eval_input
        if config.batcher is not None:
            jobs = batches_of(
                select(env, eval_input, config, items, state_input), config.batcher, state_input, context
            )
            sizes = [len(job["Items"]) for job in jobs]
            run_input = copy.copy(eval_input)
            run_input.item_selector = None  # applied per item above
            run_input.parameters = None
        env.stack.append(jobs)
        original_map_run(self, env, run_input)
        outputs = env.stack[-1]
        # moto records a failed child's output as null (Sluice's children always answer an object)
        failed = sum(size for size, output in zip(sizes, outputs, strict=True) if output is None)
        count = _number(config.tolerated_count, state_input, context)
        percentage = _number(config.tolerated_percentage, state_input, context)
        if tolerance_exceeded(failed, len(items), count, percentage):
            env.stack.pop()
            error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            cause = f"{failed} of {len(items)} items failed, more than the Map tolerates"
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=error,
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]
                        mapRunFailedEventDetails=MapRunFailedEventDetails(
                            error=TOLERANCE_EXCEEDED, cause=cause
                        )
                    ),
                )
            )
        return None

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
    DistributedIterationComponent._map_run = map_run  # type: ignore[method-assign]
    try:
        yield
    finally:
        AmazonStateLanguageParser.parse = staticmethod(original_parse)  # type: ignore[method-assign]
        DistributedIterationComponent._map_run = original_map_run  # type: ignore[method-assign]
