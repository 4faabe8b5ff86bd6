"""HyperSpark against its peers on one Spark cluster (``hyperspark bench --peers``,
``benchmarks/peers.py``): hyperopt's SparkTrials, Optuna on Spark through MLflow's ``MlflowSparkStudy``
(a real MLflow tracking server as its storage) and Ray Tune on Spark (``setup_ray_cluster``).

workloads.py (the functions every tool evaluates), tools.py (HyperSpark, hyperopt, Optuna runners),
ray_tune.py (Ray on Spark), env.py (the cluster + MLflow + session), run.py (the interleaved repeats),
report.py (table, JSON, Markdown, PNG), main.py (the command line). Peer packages: ``[peers]`` extra.
"""
