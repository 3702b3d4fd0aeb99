"""The nu-method's momentum and step coefficients u_s, w_s (Lo Gerfo et al. 2008).

Shared by the key (:mod:`enfo_sdk.keys.nu_method`) and its CV path
(:mod:`enfo_sdk.keys.nu_path`), so neither imports the other for them.
"""

from __future__ import annotations

import numpy as np


def nu_coefficients(T: int, nu: float) -> tuple[np.ndarray, np.ndarray]:
    """Momentum u_s and step w_s for s = 1..T (index 0 of the arrays is s = 1)."""
    s = np.arange(1, T + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # s = 1 divides by 0 when nu = 1/2; set below
        u = (s - 1) * (2 * s - 3) * (2 * s + 2 * nu - 1) / (
            (s + 2 * nu - 1) * (2 * s + 4 * nu - 1) * (2 * s + 2 * nu - 3)
        )
        w = 4 * (2 * s + 2 * nu - 1) * (s + nu - 1) / ((s + 2 * nu - 1) * (2 * s + 4 * nu - 1))
    u[0] = 0.0
    w[0] = (4 * nu + 2) / (4 * nu + 1)
    return u, w
