"""template.yaml → a CloudFormation template moto can create, plus what the local stack needs to know
about each function. Everything here is read from the template; nothing is listed by hand.

- Local `CodeUri`/`ContentUri` folders become `s3://<code bucket>/<LogicalId>.zip` (the translator
  wants S3 URIs) and the map logical id → folder is kept for in-process dispatch.
- `DefinitionUri` files are inlined; after translation, `DefinitionSubstitutions` are applied by
  turning the definition into an `Fn::Join` of its text and the substitution values (moto ignores
  DefinitionSubstitutions; CloudFormation would resolve the same intrinsics).
- A dependency cycle is reported by resource names (moto would recurse until RecursionError).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.errors import SluiceError

SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")
SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
SERVERLESS_STATE_MACHINE = "AWS::Serverless::StateMachine"


class TemplateError(SluiceError):
    """template.yaml cannot be deployed locally (unreadable, untranslatable, missing files)."""


class DependencyCycle(TemplateError):
    """Resources reference each other in a loop; CloudFormation would reject the template."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("circular dependency between resources: " + " -> ".join(cycle))


@dataclass(frozen=True)
class FunctionCode:
    """Where a function's handler lives on disk."""

    logical_id: str
    folder: Path
    handler: str  # module.function, relative to folder
    layers: tuple[str, ...] = ()  # the logical ids of its layers (Globals' first, as SAM merges them)

    @property
    def module_file(self) -> Path:
        module = self.handler.rsplit(".", 1)[0]
        return self.folder / (module.replace(".", "/") + ".py")

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass
class LocalTemplate:
    """The translated template and the local facts the stack needs."""

    sam: dict[str, Any]
    cloudformation: dict[str, Any]
    code_bucket: str
    functions: dict[str, FunctionCode] = field(default_factory=dict)
    layers: dict[str, Path] = field(default_factory=dict)

    def layer_folders(self, code: FunctionCode) -> list[Path]:
        """The local folders of a function's layers, in order (those built from this repository)."""
        return [self.layers[layer] for layer in code.layers if layer in self.layers]

    served_locally: list[str] = field(default_factory=list)  # API Gateway parts the local API replaces

    def outputs(self) -> list[str]:
        return list(self.cloudformation.get("Outputs", {}))

    def map_fanout_functions(self) -> set[str]:
        """The functions a state machine's Map state invokes from its iterations: on AWS each of those
        invocations runs in an execution environment of its own, at the same time."""
        found: set[str] = set()
        for resource in self.sam["Resources"].values():
            props = resource.get("Properties", {})
            if resource.get("Type") != SERVERLESS_STATE_MACHINE or "Definition" not in props:
                continue
            substitutions = props.get("DefinitionSubstitutions") or {}
            for name in _map_iteration_substitutions(props["Definition"]):
                target = substitutions.get(name)
                if isinstance(target, dict) and "Fn::GetAtt" in target:
                    attribute = target["Fn::GetAtt"]
                    found.add(attribute[0] if isinstance(attribute, list) else str(attribute).split(".")[0])
        return found


def _map_iteration_substitutions(definition: Any, inside_map: bool = False) -> set[str]:
    """The `${Name}`s used inside Map states' iterations of an ASL definition."""
    names: set[str] = set()
    if isinstance(definition, dict):
        if definition.get("Type") == "Map":
            for key in ("ItemProcessor", "Iterator"):
                names |= _map_iteration_substitutions(definition.get(key, {}), True)
        for key, value in definition.items():
            if key not in ("ItemProcessor", "Iterator"):
                names |= _map_iteration_substitutions(value, inside_map)
    elif isinstance(definition, list):
        for value in definition:
            names |= _map_iteration_substitutions(value, inside_map)
    elif isinstance(definition, str) and inside_map:
        names |= set(SUBSTITUTION.findall(definition))
    return names


def load_sam(path: Path) -> dict[str, Any]:
    """Parse template.yaml with the translator's YAML loader (it understands !Ref, !GetAtt, !Sub ...).
    The file is read each time; a text parsed before is not parsed again (~0.2 s for template.yaml, which
    a test session loads dozens of times): the caller gets a copy of its own."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read ({exc.strerror})") from exc
    parsed = _parsed_yaml(text)
    if not isinstance(parsed, dict) or "Resources" not in parsed:
        raise TemplateError(f"{path}: not a SAM template (no Resources)")
    return dict(copy.deepcopy(parsed))


@functools.lru_cache(maxsize=8)
def _parsed_yaml(text: str) -> Any:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(text)


def _local_path(root: Path, uri: Any, what: str) -> Path | None:
    if not isinstance(uri, str) or uri.startswith("s3://"):
        return None
    folder = (root / uri).resolve()
    if not folder.exists():
        raise TemplateError(f"{what}: {uri} does not exist under {root}")
    return folder


def prepare(sam: dict[str, Any], root: Path, code_bucket: str) -> LocalTemplate:
    """Rewrite local URIs in a copy of the SAM template; record function folders and handlers."""
    template = copy.deepcopy(sam)
    globals_function = template.get("Globals", {}).get("Function", {})
    local = LocalTemplate(sam=template, cloudformation={}, code_bucket=code_bucket)
    global_code = globals_function.get("CodeUri")
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type")
        props = resource.setdefault("Properties", {})
        if kind == SERVERLESS_FUNCTION:
            folder = _local_path(root, props.get("CodeUri", global_code), logical_id)
            handler = props.get("Handler", globals_function.get("Handler"))
            if folder is not None:
                if not isinstance(handler, str) or "." not in handler:
                    raise TemplateError(f"{logical_id}: Handler must be module.function, got {handler!r}")
                layers = [*globals_function.get("Layers", []), *props.get("Layers", [])]
                refs = tuple(layer["Ref"] for layer in layers if isinstance(layer, dict) and "Ref" in layer)
                local.functions[logical_id] = FunctionCode(logical_id, folder, handler, refs)
                props["CodeUri"] = f"s3://{code_bucket}/{logical_id}.zip"
        elif kind == SERVERLESS_LAYER:
            folder = _local_path(root, props.get("ContentUri"), logical_id)
            if folder is not None:
                local.layers[logical_id] = folder
                props["ContentUri"] = f"s3://{code_bucket}/{logical_id}.zip"
        elif kind == SERVERLESS_STATE_MACHINE and isinstance(props.get("DefinitionUri"), str):
            definition_path = root / props.pop("DefinitionUri")
            try:
                props["Definition"] = json.loads(definition_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise TemplateError(f"{logical_id}: cannot read {definition_path}: {exc}") from exc
    if global_code is not None:
        globals_function.pop("CodeUri", None)
    return local


def _sam_to_cloudformation(
    local: LocalTemplate, sam_path: Path, region: str, parameters: dict[str, Any] | None
) -> dict[str, Any]:
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        # The template names no AWS managed policy, so the translator needs no IAM lookup offline.
        cloudformation: dict[str, Any] = translator.translate(
            copy.deepcopy(local.sam), parameter_values=dict(parameters or {}), get_managed_policy_map=dict
        )
    except InvalidDocumentException as exc:
        messages = "; ".join(str(cause) for cause in exc.causes)
        raise TemplateError(f"{sam_path}: {messages}") from exc
    return cloudformation


def translate(
    sam_path: Path, *, code_bucket: str, region: str, parameters: dict[str, Any] | None = None
) -> LocalTemplate:
    """The whole preparation: load, rewrite, translate, apply substitutions, check for cycles."""
    local = prepare(load_sam(sam_path), sam_path.parent, code_bucket)
    cloudformation = _sam_to_cloudformation(local, sam_path, region, parameters)
    apply_definition_substitutions(cloudformation)
    check_cycles(cloudformation)
    local.served_locally = strip_api_gateway(cloudformation)
    local.cloudformation = cloudformation
    return local


def translate_for_scan(
    sam_path: Path, *, region: str = "us-east-1", parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The CloudFormation that `sam deploy` would create (API Gateway included, nothing stripped), for
    security scanners. A SAM resource's `Metadata.checkov` skips are copied to the resources generated
    from it (SAM names them after it: PredictionApi -> PredictionApiv1Stage, PredictFunction ->
    PredictFunctionRole ...), so a skip is written once, beside the resource, in template.yaml."""
    sam = load_sam(sam_path)
    cloudformation = _sam_to_cloudformation(
        prepare(sam, sam_path.parent, "sam-build-artifacts"), sam_path, region, parameters
    )
    generated = cloudformation.get("Resources", {})
    for logical_id, resource in sam["Resources"].items():
        skips = (resource.get("Metadata") or {}).get("checkov")
        if not skips or not str(resource.get("Type", "")).startswith("AWS::Serverless::"):
            continue
        for name, target in generated.items():
            if name in sam["Resources"] and name != logical_id:
                continue  # a resource of its own in template.yaml, not one SAM generated
            if name.startswith(logical_id) and "checkov" not in (target.get("Metadata") or {}):
                target.setdefault("Metadata", {})["checkov"] = copy.deepcopy(skips)
    return cloudformation


def main(argv: list[str] | None = None) -> int:
    """`python -m sluice.tools.local.template template.yaml out.json`: write translate_for_scan's output."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m sluice.tools.local.template TEMPLATE OUT.json", file=sys.stderr)
        return 2
    try:
        cloudformation = translate_for_scan(Path(args[0]))
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    Path(args[1]).write_text(json.dumps(cloudformation, indent=1), encoding="utf-8")
    return 0


def _definition_text(definition: Any) -> str:
    """The text of a translated DefinitionString (the translator emits Fn::Join of lines)."""
    if isinstance(definition, str):
        return definition
    if isinstance(definition, dict) and "Fn::Join" in definition:
        separator, parts = definition["Fn::Join"]
        if all(isinstance(p, str) for p in parts):
            return str(separator).join(parts)
    raise TemplateError(f"unexpected DefinitionString shape: {str(definition)[:200]}")


def substitute_definition(text: str, substitutions: dict[str, Any], where: str) -> dict[str, Any] | str:
    """Replace each `${Name}` with its substitution value (a string or an intrinsic), as Step Functions
    would; `$$.` context paths and `$.` paths are left alone. Unknown names are an error."""
    parts: list[Any] = []
    last = 0
    for match in SUBSTITUTION.finditer(text):
        name = match.group(1)
        if name not in substitutions:
            raise TemplateError(f"{where}: ${{{name}}} has no DefinitionSubstitutions entry")
        parts.append(text[last : match.start()])
        value = substitutions[name]
        parts.append(value if not isinstance(value, int | float | bool) else json.dumps(value))
        last = match.end()
    parts.append(text[last:])
    parts = [p for p in parts if p != ""]
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    return {"Fn::Join": ["", parts]}


def apply_definition_substitutions(cloudformation: dict[str, Any]) -> None:
    for logical_id, resource in cloudformation.get("Resources", {}).items():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = resource.get("Properties", {})
        substitutions = props.pop("DefinitionSubstitutions", None) or {}
        if "DefinitionString" in props:
            text = _definition_text(props["DefinitionString"])
            props["DefinitionString"] = substitute_definition(text, substitutions, logical_id)


# ------------------------------------------------------------------------------------------ API
# moto cannot create the REST API SAM generates (it needs a Name, then finds no methods in the OpenAPI
# body); the local stack serves those routes itself (sluice.tools.local.api.gateway), like `sam local start-api`.
# That covers the stage, deployment, API key, usage plan and the account's logging role setting. moto's
# CloudFormation has no AWS::Lambda::Alias either: the API invokes PredictFunction's `live` alias (a
# SnapStart version) on AWS; locally the front calls the handler in-process, which is what the alias runs.
SERVED_LOCALLY = ("AWS::ApiGateway::", "AWS::Lambda::Alias")


def strip_api_gateway(cloudformation: dict[str, Any]) -> list[str]:
    """Remove API Gateway resources, and whatever references them (invoke permissions, outputs), from a
    translated template before moto creates it. Returns the removed logical ids and output names."""
    resources = cloudformation.get("Resources", {})
    removed = {name for name, r in resources.items() if str(r.get("Type", "")).startswith(SERVED_LOCALLY)}
    while True:
        dependants = {
            name
            for name, resource in resources.items()
            if name not in removed and _references(resource, removed)
        }
        if not dependants:
            break
        removed |= dependants
    for name in removed:
        del resources[name]
    for resource in resources.values():  # an ordering-only DependsOn on a removed resource goes too
        depends = resource.get("DependsOn")
        if depends is not None:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in removed]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
    outputs = cloudformation.get("Outputs", {})
    dropped = [name for name, output in outputs.items() if _references(output, removed)]
    for name in dropped:
        del outputs[name]
    return sorted(removed) + dropped


# ------------------------------------------------------------------------------------------ cycles
def _references(value: Any, resources: set[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and inner in resources:
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                if target in resources:
                    found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                for name in SUBSTITUTION.findall(str(text)):
                    base = name.split(".", 1)[0]
                    if base in resources:
                        found.add(base)
                if isinstance(inner, list) and len(inner) > 1:
                    found |= _references(inner[1], resources)
            else:
                found |= _references(inner, resources)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner, resources)
    return found


def dependency_graph(cloudformation: dict[str, Any]) -> dict[str, set[str]]:
    """Resource → the resources it references (Ref, GetAtt, Sub, DependsOn)."""
    resources = cloudformation.get("Resources", {})
    names = set(resources)
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else list(depends)
        graph[name] = (_references(resource.get("Properties", {}), names) | set(depends)) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One dependency cycle (first node repeated at the end), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt, black) == grey:
                return [*stack[stack.index(nxt) :], nxt]
            if colour.get(nxt) == white and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = black
        return None

    for start in sorted(graph):
        if colour[start] == white and (cycle := visit(start)):
            return cycle
    return None


def check_cycles(cloudformation: dict[str, Any]) -> None:
    cycle = find_cycle(dependency_graph(cloudformation))
    if cycle:
        raise DependencyCycle(cycle)


if __name__ == "__main__":
    raise SystemExit(main())
