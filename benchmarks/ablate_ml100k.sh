#!/bin/sh
# Ablations on ML-100K (leave-one-out): adversarial training and augmentation, 3 seeds each,
# a fixed 12 epochs so every variant gets the same number of passes over the data.
# Usage: sh benchmarks/ablate_ml100k.sh "base fgm aug"   (results: runs/results/ml100k-abl-*)
set -e
COMMON="--dataset ml-100k --threads 1 --dropout 0.2 --id-dropout 0.1 --lr 2e-3 --epochs 12 --patience 99 --eval-every 1"
for variant in ${1:-base fgm aug title}; do
  case $variant in
    base) EXTRA="" ;;
    fgm) EXTRA="--adv fgm --adv-eps 0.5" ;;
    aug) EXTRA="--aug-weight 0.1" ;;
    title) EXTRA="--template {title}" ;;
  esac
  for seed in 0 1 2; do
    .venv/bin/python benchmarks/beauty.py $COMMON $EXTRA --seed $seed --tag "ml100k-abl-$variant-s$seed"
  done
done
