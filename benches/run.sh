#!/usr/bin/env bash
# Run the sealbox benchmarks and print the sealbox-vs-anchor ratio table.
#
#   bash benches/run.sh                 full mode: figures worth quoting (7-8 minutes)
#   bash benches/run.sh --short         CI mode: same rows, fewer rounds (1-2 minutes)
#   bash benches/run.sh --check         fail when a ratio is below its floor (ratios.py FLOORS)
#   bash benches/run.sh --json out.json write the pytest-benchmark JSON there
#   bash benches/run.sh --table         also print pytest-benchmark's own per-row table
#   bash benches/run.sh -- -k T1        anything after -- goes to pytest
#
# PYTHON selects the interpreter (default: python3 on PATH); it must have sealbox
# (a release build), pytest and pytest-benchmark installed, and optionally the
# anchors: cryptography, tink, pynacl. The JSON of every run is kept, by default
# as target/bench-results/<UTC time>-<mode>.json (git-ignored; BENCH_RESULTS
# sets the directory), and its path printed last. Missed targets never fail this
# script; a benchmark that errors (e.g. a round trip returning wrong bytes) does,
# and so, with --check, does a ratio below its floor.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
mode=full
json=""
check=()
table=--benchmark-quiet
extra=()

while (($#)); do
    case "$1" in
        --short) mode=short ;;
        --full) mode=full ;;
        --check) check=(--check) ;;
        --json) json="$2"; shift ;;
        --json=*) json="${1#--json=}" ;;
        --table) table="--benchmark-sort=name" ;;
        --) shift; extra+=("$@"); break ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (pytest arguments go after --)" >&2; exit 2 ;;
    esac
    shift
done

if [[ -z "$json" ]]; then
    results_dir="${BENCH_RESULTS:-$(cd "$here/.." && pwd)/target/bench-results}"
    json="$results_dir/$(date -u '+%Y%m%dT%H%M%SZ')-$mode.json"
fi
mkdir -p "$(dirname "$json")"
out="$json"
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
check_status=0
if [[ -s "$out" ]]; then
    "$python" "$here/ratios.py" ${check[@]+"${check[@]}"} "$out" || check_status=$?
else
    echo "run.sh: no benchmark results were written"
    if ((${#check[@]})); then check_status=1; fi
fi
echo
echo "wall time: $((end - start)) s ($mode mode)"
if [[ -s "$out" ]]; then
    echo "benchmark results (pytest-benchmark JSON): $(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
fi
if ((status)); then
    exit "$status"
fi
if ((check_status)); then
    echo "run.sh: ratios.py --check failed (status $check_status): see the floors above" >&2
    exit "$check_status"
fi
exit 0
