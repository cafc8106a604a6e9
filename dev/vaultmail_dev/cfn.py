"""Just enough CloudFormation to read template.yaml for the local stack (intrinsic functions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sambuild

REGION = "us-east-1"
ACCOUNT = "123456789012"


def load_template(path: Path = sambuild.ROOT / "template.yaml") -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


@dataclass
class Resolver:
    """Just enough CloudFormation intrinsics to read the template's environment."""

    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {Ref, Arn, ...}

    def param(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        spec = self.template.get("Parameters", {}).get(name, {})
        return str(spec.get("Default", ""))

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):  # a list loses its AWS::NoValue items, as in CloudFormation
            return [v for v in (self.value(item) for item in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        ((fn, arg),) = node.items()
        if fn == "Ref":
            if arg == "AWS::Region":
                return REGION
            if arg == "AWS::AccountId":
                return ACCOUNT
            if arg == "AWS::StackName":
                return "vaultmail-local"
            if arg == "AWS::NoValue":
                return None
            if arg in self.physical:
                return self.physical[arg]["Ref"]
            return self.param(arg)
        if fn == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.physical.get(logical, {}).get(attr, "")
        if fn == "Fn::If":
            cond, yes, no = arg
            return self.value(yes if self.condition(cond) else no)
        if fn == "Fn::Equals":
            return str(self.value(arg[0])) == str(self.value(arg[1]))
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.value(a) for a in arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Join":
            return str(arg[0]).join(str(self.value(v)) for v in self.value(arg[1]))
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            for key, val in extra.items():
                text = text.replace("${" + key + "}", str(self.value(val)))
            for name in list(self.template.get("Parameters", {})) + list(self.physical):
                if "${" + name + "}" in text:
                    text = text.replace("${" + name + "}", str(self.value({"Ref": name})))
            for logical, attrs in self.physical.items():
                for attr, val in attrs.items():
                    text = text.replace("${" + logical + "." + attr + "}", str(val))
            return (
                text.replace("${AWS::Region}", REGION)
                .replace("${AWS::AccountId}", ACCOUNT)
                .replace("${AWS::Partition}", "aws")
                .replace("${AWS::StackName}", "vaultmail-local")
            )
        if fn == "Fn::FindInMap":
            name, top, second = (self.value(a) for a in arg)
            return self.template["Mappings"][name][str(top)][second]
        if fn == "Fn::Select":
            return self.value(arg[1])[int(arg[0])]
        if fn == "Fn::Split":
            return str(self.value(arg[1])).split(arg[0])
        return {k: self.value(v) for k, v in node.items()}


# SAM's merge of Globals into a resource ("Globals section of the AWS SAM template",
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification-template-anatomy-globals.html,
# "Overridable"): a primitive or an intrinsic function is the resource's own if it has one; maps
# (Environment.Variables) merge key by key; lists are the global items then the resource's,
# except those SAM replaces (its globals.py: Function.Architectures).
_REPLACED_LISTS = frozenset({"Architectures"})


def _is_intrinsic(node: Any) -> bool:
    if not isinstance(node, dict) or len(node) != 1:
        return False
    (key,) = node
    return key in {"Ref", "Condition"} or str(key).startswith("Fn::")


def _merge(glob: Any, local: Any, path: str = "") -> Any:
    if isinstance(glob, dict) and isinstance(local, dict) and not _is_intrinsic(glob) | _is_intrinsic(local):
        merged = dict(glob)
        for name, value in local.items():
            merged[name] = _merge(glob[name], value, f"{path}.{name}".lstrip(".")) if name in glob else value
        return merged
    if isinstance(glob, list) and isinstance(local, list) and path not in _REPLACED_LISTS:
        return [*glob, *local]
    return local


def function_properties(template: dict[str, Any], logical: str) -> dict[str, Any]:
    """A function's properties with the template's Globals.Function merged in, as SAM does."""
    glob = (template.get("Globals") or {}).get("Function") or {}
    local = template["Resources"][logical].get("Properties") or {}
    merged: dict[str, Any] = _merge(glob, local)
    return merged
