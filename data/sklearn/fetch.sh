#!/usr/bin/env bash
# Extracts scikit-learn's small CSV datasets from Debian's python3-sklearn package into this
# folder (the files committed here came from version 1.2.1+dfsg-1). Needs apt and dpkg-deb.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download python3-sklearn
dpkg-deb -x python3-sklearn_*.deb extracted
data="$(find extracted -path '*sklearn/datasets/data' -type d)"
for file in digits.csv.gz breast_cancer.csv wine_data.csv iris.csv diabetes_data_raw.csv.gz diabetes_target.csv.gz; do
  cp "$data/$file" "$here/$file"
done
echo "copied into $here"
