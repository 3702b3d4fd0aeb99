"""The EnFo Python API end to end, on a small Friedman #3 table (about 10 seconds).

    python examples/embed.py [OUT_DIR]

Owner: encapsulate the key, forge 30 rows, sign them into a bundle. Partner: verify the bundle
against the owner's public key, train the key model on it, save it, load it, predict.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from enfo_sdk import encapsulate, forge, partner
from enfo_sdk.bundle import verify, write_bundle
from enfo_sdk.data.builtin import friedman3
from enfo_sdk.signing import keygen, load_private_key, load_trust


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)

    # -- owner ------------------------------------------------------------------------------
    table = friedman3(n=1200, seed=0)
    features, target = ["x1", "x2", "x3", "x4"], "y"
    train, test = table.iloc[:900], table.iloc[900:]
    X, y = train[features], train[target]

    spec = encapsulate(X, y, algorithm="nu-method",
                       search={"bandwidth": [1.0, 2.0, 4.0], "iterations": {"max": 1000}})
    print(f"key: {spec.algorithm} v{spec.version} {spec.hyperparameters}")
    result = forge(X, y, spec, rows=30, steps=200, seed=0)
    print(f"forged {len(result.data)} rows in {result.metrics['seconds']:.1f}s "
          f"(best validation RMSE {result.metrics['best_val_rmse']:.4f})")

    key_path = out / "owner.key"
    if not key_path.exists():
        keygen(key_path, comment="acme-data")           # owner.key and owner.key.pub
    signing_key = load_private_key(key_path)
    manifest = write_bundle(out / "rows.parquet", result, signing_key=signing_key,
                            owner_name="acme-data", metrics={"example": 1.0})
    print(f"bundle {out / 'rows.parquet'} id {manifest.bundle_id}")

    # -- partner ----------------------------------------------------------------------------
    trust = load_trust([out / "owner.key.pub"])
    verified = verify(out / "rows.parquet", trust)      # raises a BundleError on any failure
    print(f"verified: signed by {verified.signer} ({verified.fingerprint})")
    model = partner.train(verified)
    partner.save_model(model, out / "model.parquet", verified)
    loaded = partner.load_model(out / "model.parquet")
    predictions = partner.predict(loaded, test[features])

    def rmse(pred) -> float:
        return float(np.sqrt(np.mean((np.asarray(pred) - test[target].to_numpy()) ** 2)))

    full = spec.build().fit(X.to_numpy(), y.to_numpy())
    print(f"test RMSE: key on all {len(train)} owner rows {rmse(full.predict(test[features].to_numpy())):.4f}, "
          f"on the {len(result.data)} forged rows {rmse(predictions):.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="enfo-embed-")))
