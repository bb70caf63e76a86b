#!/usr/bin/env bash
# The recipe of the shipped model (mgbp_classic/assets/mgbp_x2x4x8.npz), resumable across sessions.
#
#   bash benchmarks/train_shipped_model.sh          # start, or continue the committed run
#   bash benchmarks/train_shipped_model.sh export   # copy the checkpoint (without Adam state) into the package
#
# The checkpoint (parameters + Adam moments + step) and the JSON-lines log live in benchmarks/training/;
# a resumed run computes exactly the losses of an uninterrupted one. Run it in the background:
#   nohup bash benchmarks/train_shipped_model.sh > benchmarks/training/train.out 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=benchmarks/training/mgbp_x2x4x8.ckpt.npz
STEPS=${STEPS:-20000}
if [ "${1:-}" = export ]; then
    python - <<'PY'
from mgbp_classic.train import export_model
export_model("benchmarks/training/mgbp_x2x4x8.ckpt.npz", "mgbp_classic/assets/mgbp_x2x4x8.npz")
PY
    mgbp-classic info mgbp_classic/assets/mgbp_x2x4x8.npz
    exit 0
fi
RESUME=()
[ -f "$CKPT" ] && RESUME=(--resume)
exec mgbp-classic train --data ../shared/data/train --levels 3 --mu 2 --patch 64 --batch 16 \
    --steps "$STEPS" --lr 1e-3 --lr-decay 500 --seed 0 --out "$CKPT" \
    --log benchmarks/training/mgbp_x2x4x8.log.jsonl \
    --validate ../shared/data/test/Set5 --val-every 20 --checkpoint-minutes 5 "${RESUME[@]}"
