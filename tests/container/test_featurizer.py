"""The one featurizer: text format, sanitisation, observation form, quantile bins and their persistence."""

from __future__ import annotations

import json

import vowpalwabbit

from container.core.featurizer import Action, Featurizer, Label, context_from_observation, sanitize


def test_shared_and_action_lines_use_namespaces_s_and_a() -> None:
    lines = Featurizer().example({"age": 31, "city": "Paris", "member": True}, [Action("x"), Action("y")])
    assert lines == ["shared |s age:31 city=Paris member=true", "|a id=x", "|a id=y"]


def test_label_goes_on_the_chosen_action_only() -> None:
    lines = Featurizer().example({"v": 1.5}, [Action("x"), Action("y")], Label(1, 0.0, 0.25))
    assert lines[1] == "|a id=x"
    assert lines[2] == "1:0:0.25 |a id=y"


def test_vw_special_characters_are_sanitised_in_names_values_and_ids() -> None:
    assert sanitize("a|b:c d\te") == "a_b_c_d_e"
    assert sanitize("") == "_"
    lines = Featurizer().example({"we|ird name": "x:y z"}, [Action("id with|pipe:colon", {"f f": 2})])
    assert lines[0] == "shared |s we_ird_name=x_y_z"
    assert lines[1] == "|a id=id_with_pipe_colon f_f:2"
    assert all(line.count("|") == 1 for line in lines)


def test_observation_becomes_named_features() -> None:
    assert context_from_observation([0.5, 2, -1]) == {"x0": 0.5, "x1": 2, "x2": -1}


def test_non_finite_numbers_are_dropped_not_written() -> None:
    assert Featurizer().shared_line({"a": float("nan"), "b": float("inf"), "c": 1}) == "shared |s c:1"


def test_fit_finds_quantile_edges_and_emits_the_bin_next_to_the_raw_value() -> None:
    contexts = [{"x": float(i), "constant": 1.0, "word": "w"} for i in range(100)]
    featurizer = Featurizer.fit(contexts, quantile_bins=4)
    assert list(featurizer.bins) == ["x"]  # a constant or a string has nothing to bin
    assert featurizer.bins["x"] == [24.75, 49.5, 74.25]
    assert featurizer.shared_line({"x": 10.0}) == "shared |s x_bin=0 x:10"
    assert featurizer.shared_line({"x": 60}) == "shared |s x_bin=2 x:60"
    assert featurizer.shared_line({"x": 1e9}) == "shared |s x_bin=3 x:1000000000"


def test_no_bins_when_disabled() -> None:
    assert Featurizer.fit([{"x": float(i)} for i in range(10)], quantile_bins=0).bins == {}


def test_state_round_trips_through_json() -> None:
    featurizer = Featurizer.fit([{"x": float(i), "y": i % 7} for i in range(200)], quantile_bins=8)
    restored = Featurizer.from_state(json.loads(json.dumps(featurizer.state())))
    context = {"x": 42.0, "y": 3, "s": "t"}
    actions = [Action("1"), Action("2", {"price": 9.5})]
    assert restored.example(context, actions) == featurizer.example(context, actions)
    assert Featurizer.from_state(None).example(context, actions)[0] == "shared |s x:42 y:3 s=t"


def test_vw_parses_every_line_it_writes() -> None:
    workspace = vowpalwabbit.Workspace("--cb_explore_adf --epsilon 0.1 -q sa --quiet")
    try:
        featurizer = Featurizer.fit([{"x": float(i)} for i in range(50)], quantile_bins=4)
        lines = featurizer.example({"x": 3.25, "tag": "a b|c", "flag": False}, [Action("p:q"), Action("r")])
        workspace.learn([lines[0], "0:1:0.5 " + lines[1], lines[2]])
        assert len(workspace.predict(lines)) == 2
    finally:
        workspace.finish()
