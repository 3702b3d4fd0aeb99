"""Baselines at the bundle's row count (the paper's Table 1).

The first six start from ``rows`` real training rows sampled without replacement (seeded), then
perturb them; the generative ones (``gaussian_copula``, ``ctgan``, ``forest_diffusion``) are
fitted on all training rows and sampled. Columns are the features then the target, as in a bundle:

``sampled``      the sampled rows unchanged ("original data (Sampled)");
``noise``        plus Gaussian noise with std ``noise_scale`` (default 0.1) x the column's std
                 on the training rows (the paper does not give its noise level);
``rounding``     every value rounded to two significant digits ("nearest value at the second
                 most significant digit");
``top_coding``   every column clipped above at its 95th percentile on the training rows;
``swap_20``, ``swap_50``  20% (50%) of the rows are split at random into two equal groups and
                 paired; paired rows swap their feature values and keep their targets.
                 (Swapping *all* attributes, as the paper words it, would leave the set of rows
                 unchanged, so we swap the features and leave the target: the usual
                 record-swapping disclosure control, e.g. Dalenius and Reiss 1982.)
``gaussian_copula``  a generative baseline: a Gaussian copula fitted on all training rows
                 (normal scores of the ranks, their correlation matrix) sampled ``rows``
                 times, each column mapped back through the training column's empirical
                 quantiles. Our own implementation (numpy/scipy), not SDV's.
``ctgan``        a GAN baseline: CTGAN (Xu, Skoularidou, Cuesta-Infante and Veeramachaneni,
                 "Modeling Tabular Data using Conditional GAN", NeurIPS 2019), the ``ctgan``
                 package's ``CTGAN`` with its default architecture, every column continuous,
                 fitted on all training rows for ``epochs`` epochs (default
                 :data:`CTGAN_EPOCHS`) and sampled ``rows`` times. Optional: needs the
                 ``bench`` extra (``pip install 'enfo-sdk[bench]'``); :data:`BASELINES` lists it
                 only when the package is installed.
``forest_diffusion``  a diffusion baseline: Forest-Flow (Jolicoeur-Martineau, Fatras and Kachman,
                 "Generating and Imputing Tabular Data via Diffusion and Flow-based
                 Gradient-Boosted Trees", AISTATS 2024), the ``ForestDiffusion`` package's
                 ``ForestDiffusionModel`` with ``diffusion_type="flow"``: for each of ``n_t``
                 noise levels t, XGBoost regressors learn the flow x1 - x0 from
                 x_t = t x1 + (1 - t) x0, where x1 is a training row (min-max scaled to
                 [-1, 1]) and x0 ~ N(0, I), each row paired with ``duplicate_k`` noise draws;
                 sampling integrates that flow from Gaussian noise with Euler steps and maps
                 back (clipped to the training range). Fitted on all training rows with
                 ``n_t`` (default :data:`FOREST_DIFFUSION_N_T`) and ``duplicate_k`` (default
                 :data:`FOREST_DIFFUSION_DUPLICATE_K`), the package's defaults otherwise, and
                 sampled ``rows`` times. Optional, like ``ctgan`` (the same ``bench`` extra).

See ``docs/metrics.md`` for costs and measured key RMSEs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

import numpy as np
from scipy.stats import norm

from .._random import rng as make_rng
from ..errors import ConfigError, DataError, EnfoError

__all__ = ["BASELINES", "CORE_BASELINES", "CTGAN_EPOCHS", "FOREST_DIFFUSION_DUPLICATE_K",
           "FOREST_DIFFUSION_N_T", "OPTIONAL_BASELINES", "BaselineUnavailableError",
           "available_baselines", "baselines_note", "make_baseline", "round_significant"]

#: Baselines that need nothing beyond the SDK's own dependencies.
CORE_BASELINES = ("sampled", "noise", "rounding", "top_coding", "swap_20", "swap_50", "gaussian_copula")

#: Optional baselines: name -> (module to import, extra that installs it).
OPTIONAL_BASELINES = {"ctgan": ("ctgan", "bench"), "forest_diffusion": ("ForestDiffusion", "bench")}

#: CTGAN's default training length here (the package's own default is 300): 100 epochs of
#: 500-row batches took 39-49 s for a 5,000-row, 5-column table on one core of a busy 2-core
#: machine (docs/metrics.md).
CTGAN_EPOCHS = 100

#: Forest-Flow's noise levels here (the package's default is 50) and noise draws per training
#: row (default 100): with these, fitting a 5,000-row, 5-column table took 36-37 s on one
#: core of a busy 2-core machine; the package's defaults fit 12.5 times as many noisy rows
#: (docs/metrics.md).
FOREST_DIFFUSION_N_T = 20
FOREST_DIFFUSION_DUPLICATE_K = 20


class BaselineUnavailableError(EnfoError, ImportError):
    """An optional baseline was asked for but its package (an extra) is not installed."""


def _installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_baselines() -> tuple[str, ...]:
    """:data:`CORE_BASELINES` plus each optional baseline whose package is installed."""
    optional = (n for n, (module, _) in OPTIONAL_BASELINES.items() if _installed(module))
    return CORE_BASELINES + tuple(optional)


#: The default baselines, fixed when this module is imported: :func:`available_baselines`.
BASELINES = available_baselines()


def _require(name: str):
    """Import an optional baseline's package or raise :class:`BaselineUnavailableError`."""
    module, extra = OPTIONAL_BASELINES[name]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BaselineUnavailableError(
            f"the {name!r} baseline needs the {module!r} package, which cannot be imported "
            f"({e}); run: pip install 'enfo-sdk[{extra}]'"
        ) from e


#: Per optional baseline: what the notes say when it ran (given the package version), and the
#: opening words when it was skipped (package missing) or not asked for.
_NOTES = {
    "ctgan": (lambda v: f"CTGAN baseline: ctgan {v}, {CTGAN_EPOCHS} epochs, fitted on all members.",
              "CTGAN baseline skipped:", "CTGAN baseline not run:"),
    "forest_diffusion": (
        lambda v: (f"Diffusion baseline: ForestDiffusion {v} (Forest-Flow, XGBoost), n_t={FOREST_DIFFUSION_N_T}, "
                   f"duplicate_K={FOREST_DIFFUSION_DUPLICATE_K}, fitted on all members."),
        "No diffusion baseline: forest_diffusion skipped,", "No diffusion baseline: forest_diffusion"),
}


def baselines_note(ran: Iterable[str]) -> str:
    """One sentence for an evaluation's notes: which generative baselines ran, which did not and why.

    Parameters
    ----------
    ran : iterable of str
        The baselines that were run (e.g. the keys of ``evaluate(...)["baselines"]``).
    """
    from importlib.metadata import version

    ran = set(ran)
    parts = []
    for name, (describe, skipped, absent) in _NOTES.items():
        module, extra = OPTIONAL_BASELINES[name]
        if name in ran:
            parts.append(describe(version(module)))
        elif not _installed(module):
            parts.append(f"{skipped} the {module!r} package is not installed (pip install 'enfo-sdk[{extra}]').")
        else:
            parts.append(f"{absent} not among the requested baselines.")
    if "gaussian_copula" in ran:
        parts.append("The Gaussian copula is our own implementation, not SDV's.")
    return " ".join(parts)


def round_significant(x, digits: int = 2) -> np.ndarray:
    """Round every value to ``digits`` significant digits (0 stays 0)."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    nz = (x != 0) & np.isfinite(x)
    mag = 10.0 ** (np.floor(np.log10(np.abs(x[nz]))) - (digits - 1))
    out[nz] = np.round(x[nz] / mag) * mag
    return out


def _swap(rows: np.ndarray, share: float, n_features: int, g: np.random.Generator) -> np.ndarray:
    out = rows.copy()
    k = int(round(share * len(rows))) // 2
    if k == 0:
        return out
    chosen = g.permutation(len(rows))[: 2 * k]
    a, b = chosen[:k], chosen[k:]
    out[a, :n_features], out[b, :n_features] = rows[b, :n_features], rows[a, :n_features]
    return out


def _copula(train: np.ndarray, rows: int, g: np.random.Generator) -> np.ndarray:
    n, d = train.shape
    ranks = np.argsort(np.argsort(train, axis=0), axis=0)
    scores = norm.ppf((ranks + 1) / (n + 1))
    corr = np.atleast_2d(np.corrcoef(scores, rowvar=False))
    corr = corr + 1e-9 * np.eye(d)
    u = norm.cdf(g.multivariate_normal(np.zeros(d), corr, size=rows, method="eigh"))
    return np.column_stack([np.quantile(train[:, j], u[:, j]) for j in range(d)])


def _ctgan(train: np.ndarray, rows: int, g: np.random.Generator, epochs: int) -> np.ndarray:
    """CTGAN fitted on ``train`` (every column continuous), ``rows`` samples.

    Single-threaded (torch's thread count is set to 1 for the fit and restored afterwards, so
    do not run torch in other threads meanwhile): results then do not depend on the machine's
    core count, and on a busy 2-core machine one thread was several times faster than two.
    ctgan's own ``set_random_state`` seeds numpy's and torch's global generators for ``fit`` and
    ``sample`` and restores their previous states afterwards. Its column transformer runs
    in-process (joblib's sequential backend) instead of in worker processes.
    """
    if int(epochs) < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    ctgan = _require("ctgan")
    import joblib

    from .._threads import torch_threads

    with torch_threads(1), joblib.parallel_config(backend="sequential"):
        model = ctgan.CTGAN(epochs=int(epochs), enable_gpu=False, verbose=False)
        model.set_random_state(int(g.integers(2**31 - 1)))
        model.fit(train)
        out = model.sample(rows)
    return np.asarray(out, dtype=np.float64)


def _forest_diffusion(train: np.ndarray, rows: int, g: np.random.Generator, n_t: int,
                      duplicate_k: int) -> np.ndarray:
    """Forest-Flow fitted on ``train`` (every column continuous), ``rows`` samples.

    Single-threaded: the model's own ``n_jobs=1`` (no joblib workers), XGBoost's ``nthread=1``
    for training, and XGBoost's global ``nthread`` set to 1 for building its matrices and
    predicting (``xgboost.config_context``, which restores the global configuration on exit);
    results then do not depend on the machine's core count. ForestDiffusion draws its noise
    from numpy's *global* generator (``np.random.seed(seed)`` in its constructor,
    ``np.random.normal`` when fitting and sampling): it is seeded from ``g`` for the fit and
    again for sampling, and its previous state is restored afterwards, so do not use numpy's
    global generator, or XGBoost, in other threads meanwhile.
    """
    if int(n_t) < 2 or int(duplicate_k) < 1:
        raise ConfigError(f"need n_t >= 2 and duplicate_k >= 1, got n_t={n_t}, duplicate_k={duplicate_k}")
    fd = _require("forest_diffusion")
    import xgboost

    fit_seed, sample_seed = (int(s) for s in g.integers(2**31 - 1, size=2))
    state = np.random.get_state()
    try:
        with xgboost.config_context(nthread=1):
            model = fd.ForestDiffusionModel(
                np.ascontiguousarray(train), n_t=int(n_t), duplicate_K=int(duplicate_k),
                diffusion_type="flow", model="xgboost", n_jobs=1, seed=fit_seed, nthread=1,
            )
            np.random.seed(sample_seed)
            out = model.generate(batch_size=int(rows))
    finally:
        np.random.set_state(state)
    return np.asarray(out, dtype=np.float64)


def make_baseline(name: str, train, rows: int, *, n_features: int | None = None, seed: int = 0,
                  noise_scale: float = 0.1, epochs: int = CTGAN_EPOCHS,
                  n_t: int = FOREST_DIFFUSION_N_T,
                  duplicate_k: int = FOREST_DIFFUSION_DUPLICATE_K) -> np.ndarray:
    """``rows`` baseline rows from the training table ``train`` (features then target).

    Parameters
    ----------
    name : str
        One of :data:`CORE_BASELINES`, ``"ctgan"`` or ``"forest_diffusion"`` (these two need
        the ``bench`` extra).
    train : array-like of shape (n, n_features + 1)
    rows : int
    n_features : int, optional
        Feature columns (default all but the last).
    seed : int
    noise_scale : float
        ``noise`` only: the noise std in units of each column's std.
    epochs : int
        ``ctgan`` only: training epochs (default :data:`CTGAN_EPOCHS`).
    n_t : int
        ``forest_diffusion`` only: noise levels, one set of XGBoost regressors each (default
        :data:`FOREST_DIFFUSION_N_T`; at least 2).
    duplicate_k : int
        ``forest_diffusion`` only: noise draws per training row (ForestDiffusion's
        ``duplicate_K``; default :data:`FOREST_DIFFUSION_DUPLICATE_K`).

    Returns
    -------
    ndarray of shape (rows, n_features + 1), float64

    Raises
    ------
    BaselineUnavailableError
        ``name`` is an optional baseline whose package is not installed.
    """
    train = np.asarray(train, dtype=np.float64)
    n_features = train.shape[1] - 1 if n_features is None else n_features
    g = make_rng(seed)
    if name == "gaussian_copula":
        return _copula(train, rows, g)
    if name == "ctgan":
        return _ctgan(train, rows, g, epochs)
    if name == "forest_diffusion":
        return _forest_diffusion(train, rows, g, n_t, duplicate_k)
    if rows > len(train):
        raise DataError(f"{rows} rows asked from a table of {len(train)}")
    sample = train[g.choice(len(train), rows, replace=False)]
    if name == "sampled":
        return sample
    if name == "noise":
        return sample + g.standard_normal(sample.shape) * (noise_scale * train.std(axis=0))
    if name == "rounding":
        return round_significant(sample, 2)
    if name == "top_coding":
        return np.minimum(sample, np.percentile(train, 95, axis=0))
    if name == "swap_20":
        return _swap(sample, 0.2, n_features, g)
    if name == "swap_50":
        return _swap(sample, 0.5, n_features, g)
    known = ", ".join((*CORE_BASELINES, *OPTIONAL_BASELINES))
    raise ConfigError(f"unknown baseline {name!r}; known: {known}")
