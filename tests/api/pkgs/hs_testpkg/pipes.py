from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def make_pipeline():
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=200))])
