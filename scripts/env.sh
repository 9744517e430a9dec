# Sourced by scripts/demo and scripts/test: a virtualenv in .venv with the
# Python dependencies, and the extension built in release mode into it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check \
    "maturin>=1.9,<2" "pytest>=8" "hypothesis>=6.100" "cryptography>=44" "pynacl>=1.5" \
    "miscreant>=0.3" "pyarrow>=14" "argon2-cffi>=23" "pytest-benchmark>=5" "tink>=1.10" "ruff>=0.6" "mypy>=1.11"
maturin develop --release -q >/dev/null
