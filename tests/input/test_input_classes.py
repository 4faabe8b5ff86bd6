"""Input, all of it (issue 23): the classes that are not rows of docs/errors.md's table (which
tests/unit/test_errors_table.py runs): THE YAML loader's rules, rendered values escaped, the status values
of bounded trials shown and never best. Spark-free."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hyperspark.errors import SpecError
from hyperspark.job import yaml_load
from hyperspark.job.spec_io import apply_overrides
from hyperspark.ops.cli import cli


@pytest.mark.parametrize("text, problem", [
    ("a: 1\nb: {c: 1, c: 2}\n", "duplicate key 'c' on line 2 (first on line 2)"),
    ("a: 1\n1: x\n1: y\n", "duplicate key 1 on line 3 (first on line 2)"),
    ("a: &x [1, 2]\nb: *x\n", "alias *x on line 2: YAML aliases are not accepted"),
    ("base: &b {x: 1}\nother:\n  <<: *b\n", "alias *b on line 3"),
    # the billion laughs: refused at the first alias, before anything expands
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n", "alias *a on line 2"),
])
def test_the_loader_refuses_duplicate_keys_and_aliases(text, problem):
    with pytest.raises(yaml_load.YAMLError) as e:
        yaml_load.load(text)
    assert problem in str(e.value)


def test_the_loader_reads_what_a_spec_holds():
    assert yaml_load.load("a: [1, 2.5, null, true]\nb: {c: x}\n") == {"a": [1, 2.5, None, True], "b": {"c": "x"}}
    assert yaml_load.load_all("a: 1\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize("item, message", [
    ("space.x={a: 1, a: 2}", "--set space.x: the value is not valid YAML: duplicate key 'a' on line 1 (first on line 1)"),
    ("a..b=1", "--set a..b: empty key part (write a.b=value)"),
    ("a=&x 1", None),  # an anchor alone is harmless
])
def test_set_values_go_through_the_same_loader(item, message):
    if message is None:
        assert apply_overrides({}, [item]) == {"a": 1}
        return
    with pytest.raises(SpecError) as e:
        apply_overrides({}, [item])
    assert str(e.value) == message


def _row(i: int, params: dict, status: str, mean: float | None) -> dict:
    return {"trial_id": f"t{i}", "params": params, "status": status, "number": i, "mean": mean,
            "decision": "complete" if status == "ok" else "failed", "executor_id": "[bold]e[/bold]",
            "ended_at": float(i), "error": None if status == "ok" else f"{status} [/]"}


def test_results_show_markup_in_values_literally_and_bounded_rows_never_best(tmp_path):
    run = tmp_path / "out" / "r1"
    run.mkdir(parents=True)
    rows = [_row(0, {"name": "[red]x[/red]"}, "ok", 0.5), _row(1, {"name": "[/]"}, "timeout", None),
            _row(2, {"name": "[link=http://x]y"}, "lost", None), _row(3, {"name": "plain"}, "ok", 0.4)]
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "state"), "results", run.as_uri()],
                             env={"HYPERSPARK_TARGET": None}, prog_name="hyperspark")
    assert res.exit_code == 0, res.output
    out = res.output
    for literal in ('"[red]x[/red]"', '"[/]"', '"[link=http://x]y"', "[bold]e[/bold]"):
        assert literal in out, out
    lines = {ln.split("│")[2].strip(): ln for ln in out.splitlines() if ln.count("│") > 4 and " t" in ln}
    assert set(lines) == {"t0", "t1", "t2", "t3"}, out
    assert "*" in lines["t0"].split("│")[1] and "timeout" in lines["t1"] and "lost" in lines["t2"]
    assert not any("*" in lines[t].split("│")[1] for t in ("t1", "t2", "t3"))
    js = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "state"), "results", run.as_uri(), "--json"],
                            env={"HYPERSPARK_TARGET": None}, prog_name="hyperspark")
    best = [t for t in json.loads(js.output)["trials"] if t["best"]]
    assert [t["trial_id"] for t in best] == ["t0"]
