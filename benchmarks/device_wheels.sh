#!/usr/bin/env bash
# The wheels the lent GPU machine needs (benchmarks/device_wheels.txt) into .whl/ for Python 3.12
# on x86-64 manylinux, where its image runs (docs/speed.md, "On a GPU"). Two pins have no wheel
# on the registry (connection_pool, future): pip builds them here, both pure Python. Then carry
# `.whl` (and `shared` for the books) and begin the device command with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
#   export PYTHONPATH=/tmp/site JUPYTER_PATH=/tmp/site/share/jupyter PATH=/tmp/site/bin:$PATH
#
#     bash benchmarks/device_wheels.sh      # about 43 MB
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
mkdir -p .whl
platforms=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${p}_x86_64")
done
while read -r pin; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${platforms[@]}" -d .whl "$pin" 2>/dev/null ||
        python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl "$pin"
done < <(grep -v '^#' benchmarks/device_wheels.txt)
echo "$(ls .whl | wc -l) wheels, $(du -sh .whl | cut -f1) in .whl/"
