"""Which executor JVM options a session the job starts itself gets (job/session.py)."""
from hyperspark.job.session import C1_ONLY, executor_java_options

ARCHIVE = "-XX:SharedArchiveFile=/c/spark.jsa -Xlog:cds=off"


def test_python_trials_add_c1_to_what_is_already_there():
    assert executor_java_options(ARCHIVE, None, python_trials=True) == f"{ARCHIVE} {C1_ONLY}"
    assert executor_java_options("", None, python_trials=True) == C1_ONLY


def test_mllib_an_opt_out_or_a_chosen_level_leave_the_options_alone():
    assert executor_java_options(ARCHIVE, None, python_trials=False) is None  # MLlib computes in the JVM
    assert executor_java_options(ARCHIVE, "FULL", python_trials=True) is None
    assert executor_java_options("-XX:TieredStopAtLevel=4", None, python_trials=True) is None


def test_preload_follows_the_spec_every_family_of_a_choice_and_never_user_code():
    from hyperspark.job.daemon import BASE, SKLEARN
    from hyperspark.job.session import preload_modules
    from hyperspark.job.spec import parse_spec

    common = {"dataset": {"uri": "file:///x.csv", "label": "y"}, "search": {"type": "random", "trials": 4}}
    rf = parse_spec({**common, "model": "sklearn.random_forest", "space": {"max_depth": [2, 3]}})
    assert preload_modules(rf) == [*BASE, *SKLEARN, "sklearn.ensemble"]
    choice = parse_spec({**common, "model": {"choice": {"sklearn.svm": {"C": [1.0, 2.0]},
                                                        "sklearn.knn": {"n_neighbors": [3, 5]}}}})
    assert set(preload_modules(choice)) == {*BASE, *SKLEARN, "sklearn.svm", "sklearn.neighbors"}
    obj = parse_spec({**common, "objective": "hyperspark.job.null_model:sleep_objective", "space": {"x": [1, 2]}})
    assert preload_modules(obj) == list(BASE)  # no scikit-learn, and never the user's own module
    xgb_like = [("xgboost", "xgboost:XGBClassifier")]
    from hyperspark.job.daemon import modules_for
    assert modules_for("trials", xgb_like) == [*BASE, *SKLEARN]  # imported by the worker itself, after the fork


def test_the_daemon_imports_what_the_session_named(monkeypatch):
    import sys

    from hyperspark.job import daemon

    monkeypatch.setenv(daemon.ENV, "json, hyperspark_no_such_module")
    assert daemon.preload() == ["hyperspark_no_such_module"]  # a missing one is skipped, never raised
    assert "json" in sys.modules


def test_executor_count_settles_at_once_in_an_old_session_and_after_2_s_in_a_young_one():
    from hyperspark.job.session import settled

    assert settled(2, 2, 0.0, 1.0) and not settled(1, 2, 60.0, 600.0)  # an expected count is waited for
    assert not settled(2, None, 0.5, 3.0)   # a new session: executors may still be registering
    assert settled(2, None, 2.0, 3.0)       # ... until the count held for 2 s
    assert settled(2, None, 0.0, 600.0)     # a notebook's session: its executors registered long ago
    assert not settled(0, None, 60.0, 600.0)


def test_a_launchers_hint_ends_the_wait_when_reached_and_falls_back_when_not():
    from hyperspark.job.session import settled

    assert settled(2, None, 0.0, 1.0, hint=2)        # the cluster's free workers all registered: go at once
    assert not settled(1, None, 0.5, 1.0, hint=2)    # one still starting
    assert settled(1, None, 2.0, 1.0, hint=2)        # another app took a worker: the 2 s rule, as without it


def test_tune_seed_seeds_the_searcher_too_unless_the_search_names_its_own():
    from hyperspark.api import _spec_dict

    def search_of(search, **keys):
        return _spec_dict("sklearn.random_forest", None, None, {"max_depth": [2, 3]}, "file:///x.csv", "y", search,
                          8, None, None, None, None, dict(keys))[0]["search"]

    assert search_of("random", seed=3) == {"type": "random", "trials": 8, "seed": 3}
    assert search_of({"type": "random", "trials": 8, "seed": 5}, seed=3)["seed"] == 5
    assert "seed" not in search_of("random")  # the spec's default stays
