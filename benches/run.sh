#!/usr/bin/env bash
# Run the sealbox benchmarks and print the sealbox-vs-anchor ratio table.
#
#   bash benches/run.sh                 full mode: figures worth quoting (about a minute)
#   bash benches/run.sh --short         CI mode: same rows, few rounds (well under 2 minutes)
#   bash benches/run.sh --json out.json keep the pytest-benchmark JSON
#   bash benches/run.sh --table         also print pytest-benchmark's own per-row table
#   bash benches/run.sh -- -k T1        anything after -- goes to pytest
#
# PYTHON selects the interpreter (default: python3 on PATH); it must have sealbox
# (a release build), pytest and pytest-benchmark installed, and optionally the
# anchors: cryptography, tink, pynacl. Missed targets never fail this script; a
# benchmark that errors (e.g. a round trip returning wrong bytes) does.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
mode=full
json=""
table=--benchmark-quiet
extra=()

while (($#)); do
    case "$1" in
        --short) mode=short ;;
        --full) mode=full ;;
        --json) json="$2"; shift ;;
        --json=*) json="${1#--json=}" ;;
        --table) table="--benchmark-sort=name" ;;
        --) shift; extra+=("$@"); break ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (pytest arguments go after --)" >&2; exit 2 ;;
    esac
    shift
done

tmpdir="$(mktemp -d "${TMPDIR:-/tmp}/sealbox-bench.XXXXXX")"
trap 'rm -rf "$tmpdir"' EXIT
out="${json:-$tmpdir/results.json}"
rm -f "$out"  # never report a previous run's figures

if ! "$python" -c "import sealbox, pytest_benchmark" 2>/dev/null; then
    echo "run.sh: $python cannot import sealbox and pytest_benchmark;" \
         "install them (see benches/README.md) or set PYTHON" >&2
    exit 2
fi

echo "sealbox benchmarks, $mode mode, $("$python" -c 'import sys; print(sys.version.split()[0])')," \
     "$(nproc 2>/dev/null || echo '?') CPUs, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"

start=$(date +%s)
status=0
# No bytecode or pytest cache in the source tree; no test-suite options needed here.
PYTHONDONTWRITEBYTECODE=1 "$python" -m pytest "$here" \
    -p no:cacheprovider -q \
    --bench-mode="$mode" \
    --benchmark-json="$out" \
    --benchmark-columns=min,median,max,rounds \
    "$table" \
    ${extra[@]+"${extra[@]}"} || status=$?
end=$(date +%s)

echo
if [[ -s "$out" ]]; then
    "$python" "$here/ratios.py" "$out" || true
else
    echo "run.sh: no benchmark results were written"
fi
echo
echo "wall time: $((end - start)) s ($mode mode)${json:+; JSON kept in $json}"
exit "$status"
