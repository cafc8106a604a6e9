"""The local stack reads a function's properties with Globals.Function merged in, as SAM does.

SAM's rules ("Globals section of the AWS SAM template", "Overridable":
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification-template-anatomy-globals.html):
primitives and intrinsic functions are the resource's own if it has one, maps merge key by key,
lists are the global items then the resource's (Architectures: replaced). The oracle below is
SAM's own implementation (samtranslator's Globals, what `sam build` and CloudFormation use).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from samtranslator.plugins.globals.globals import Globals

from vaultmail_dev.cfn import function_properties

FN = "AWS::Serverless::Function"


def template(glob: dict[str, Any], local: dict[str, Any]) -> dict[str, Any]:
    return {"Globals": {"Function": glob}, "Resources": {"Fn": {"Type": FN, "Properties": local}}}


def sam_merge(glob: dict[str, Any], local: dict[str, Any]) -> Any:
    return Globals(copy.deepcopy(template(glob, {}))).merge(FN, copy.deepcopy(local), "Fn")


def test_environment_variables_merge_and_the_function_wins() -> None:
    glob = {
        "Timeout": 900,
        "Environment": {"Variables": {"SHARED": "g", "BOTH": "g", "REF": {"Ref": "P"}}},
    }
    local = {"Timeout": 10, "Environment": {"Variables": {"BOTH": "l", "OWN": "l"}}}
    merged = function_properties(template(glob, local), "Fn")
    assert merged["Timeout"] == 10
    assert merged["Environment"]["Variables"] == {"SHARED": "g", "BOTH": "l", "REF": {"Ref": "P"}, "OWN": "l"}
    assert function_properties(template(glob, {}), "Fn")["Timeout"] == 900  # no override: the global
    assert merged == sam_merge(glob, local)


def test_an_intrinsic_is_a_value_not_a_map_and_lists_concatenate() -> None:
    glob = {"Layers": [{"Ref": "A"}], "Architectures": ["arm64"], "Environment": {"Fn::If": ["C", {}, {}]}}
    local = {"Layers": [{"Ref": "B"}], "Architectures": ["x86_64"], "Environment": {"Variables": {"X": "1"}}}
    merged = function_properties(template(glob, local), "Fn")
    assert merged["Layers"] == [{"Ref": "A"}, {"Ref": "B"}]
    assert merged["Architectures"] == ["x86_64"]  # SAM replaces this list
    assert merged["Environment"] == {"Variables": {"X": "1"}}  # not merged into the Fn::If
    assert merged == sam_merge(glob, local)


def test_no_globals_leaves_the_function_as_it_is() -> None:
    tpl = {"Resources": {"Fn": {"Type": FN, "Properties": {"Timeout": 5}}}}
    assert function_properties(tpl, "Fn") == {"Timeout": 5}


_ref = st.builds(lambda v: {"Ref": v}, st.sampled_from("PQ"))
_leaf = st.one_of(st.integers(0, 9), st.sampled_from(["a", "b"]), _ref)
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["Variables", "X", "Y", "Mode"]), inner, max_size=3),
        st.builds(lambda c, v: {"Fn::If": [c, v, v]}, st.sampled_from("CD"), inner),
    ),
    max_leaves=12,
)
# properties SAM accepts in Globals.Function (it refuses others)
_props = st.dictionaries(
    st.sampled_from(["Timeout", "MemorySize", "Environment", "Layers", "Architectures", "Tags", "Handler"]),
    _values,
    max_size=5,
)


@given(glob=_props, local=_props)
def test_the_merge_is_sams(glob: dict[str, Any], local: dict[str, Any]) -> None:
    assert function_properties(template(glob, local), "Fn") == sam_merge(glob, local)
