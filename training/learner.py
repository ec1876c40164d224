"""The incremental learner of one family: scikit-learn, chunk by chunk (partial_fit).

Per group (a site's temperature sensors, say) a `StandardScaler` learns the features'
mean and spread; on the standardised features a `MiniBatchKMeans` learns a few cluster
centres of normal behaviour. A reading's anomaly score is its squared distance to the
nearest centre; the threshold is a high quantile of the scores of a sample of the
training rows. The loss reported per chunk is the mean score of that chunk *before*
the model learns from it (progressive validation: a falling loss means the model
explains data it has not yet seen).
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.preprocessing import StandardScaler

from actors.rules.anomaly import FEATURES, Family, Scale

SAMPLE = 20_000  # standardised training rows kept (reservoir) to set the threshold


class Learner:
    def __init__(self, family: str, clusters: int = 3, quantile: float = 0.99, seed: int = 0):
        self.family = family
        self.quantile = quantile
        self.scalers: dict[str, StandardScaler] = {}
        self.kmeans = MiniBatchKMeans(n_clusters=clusters, random_state=seed, n_init=3)
        self.clusters = clusters
        self.fitted = False
        self.seen = 0
        self.rng = np.random.default_rng(seed)
        self.sample = np.empty((SAMPLE, len(FEATURES[family])))
        self.kept = 0
        self._pending = np.empty((0, len(FEATURES[family])))

    def partial_fit(self, x: np.ndarray, groups: np.ndarray) -> float | None:
        """Learn from one chunk; returns the chunk's loss (None before the model exists)."""
        if not len(x):
            return None
        for group in np.unique(groups):
            scaler = self.scalers.setdefault(str(group), StandardScaler())
            scaler.partial_fit(x[groups == group])
        z = self.standardise(x, groups)
        loss = float(self._distances(z).mean()) if self.fitted else None
        # k-means needs at least `clusters` rows in its first batch: small chunks wait.
        batch = np.vstack([self._pending, z])
        if len(batch) >= self.clusters:
            self.kmeans.partial_fit(batch)
            self.fitted, self._pending = True, batch[:0]
            if loss is None:
                loss = float(self._distances(z).mean())
        else:
            self._pending = batch
        self._keep(z)
        return loss

    def standardise(self, x: np.ndarray, groups: np.ndarray) -> np.ndarray:
        z = np.zeros_like(x, dtype=float)
        for group in np.unique(groups):
            rows = groups == group
            scaler = self.scalers.get(str(group))
            if scaler is not None:
                z[rows] = scaler.transform(x[rows])
        return np.nan_to_num(z, nan=0.0)  # a missing feature counts as its group's mean

    def _distances(self, z: np.ndarray) -> np.ndarray:
        centres = self.kmeans.cluster_centers_
        return np.asarray(((z[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).min(axis=1))

    def _keep(self, z: np.ndarray) -> None:
        """Reservoir sampling: every training row equally likely to be in the sample."""
        room = min(len(z), SAMPLE - self.kept)
        self.sample[self.kept : self.kept + room] = z[:room]
        self.kept += room
        self.seen += room
        for row in z[room:]:
            self.seen += 1
            slot = int(self.rng.integers(0, self.seen))
            if slot < SAMPLE:
                self.sample[slot] = row

    def finish(self) -> Family | None:
        """The scorer this learner became, or None if it saw too little to have one."""
        if not self.fitted:
            return None
        threshold = float(np.quantile(self._distances(self.sample[: self.kept]), self.quantile))
        groups = {
            g: Scale(mean=[float(v) for v in s.mean_], scale=[float(v) for v in s.scale_])
            for g, s in self.scalers.items()
            if s.mean_ is not None
        }
        return Family(
            features=list(FEATURES[self.family]),
            groups=groups,
            centres=[[float(v) for v in c] for c in self.kmeans.cluster_centers_],
            threshold=threshold,
        )

    def estimators(self) -> dict[str, Any]:
        return {"scalers": self.scalers, "kmeans": self.kmeans}


def dump_estimators(learners: dict[str, Learner]) -> bytes:
    return pickle.dumps({name: learner.estimators() for name, learner in learners.items()})
