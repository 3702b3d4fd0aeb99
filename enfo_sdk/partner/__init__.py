"""Partner side: verified bundle -> rebuilt key model -> saved model -> predictions, and the
partner's own rows against the bundle.

* :mod:`enfo_sdk.partner.model`: ``train`` (the manifest's key fitted on the signed rows), the
  trained model as a scikit-learn estimator, ``save_model``/``load_model`` (one Parquet file, no
  pickle) and ``predict`` on raw tables.
* :mod:`enfo_sdk.partner.tools`: ``augment`` (does the bundle improve the key on the partner's
  rows?) and ``check`` (the owner's rivalry measurement re-run on the partner's rows).
* :mod:`enfo_sdk.partner.classify`: the same two for classification bundles.

Everything public is importable from here: ``from enfo_sdk.partner import train, check``.
"""

from .model import (
    MODEL_FOOTER_KEY, ArrayInfo, ModelMetadata, TrainedClassifier, TrainedModel, default_model_path, load_model,
    model_bytes, predict, save_model, train,
)
from .tools import AugmentReport, CheckReport, augment, check

__all__ = [
    "MODEL_FOOTER_KEY", "ArrayInfo", "AugmentReport", "CheckReport", "ModelMetadata", "TrainedClassifier",
    "TrainedModel", "augment", "check", "default_model_path", "load_model", "model_bytes", "predict", "save_model",
    "train",
]
