#!/usr/bin/env bash
# Fuzz sealbox for a bounded time: the cargo-fuzz targets over the Rust core,
# then the atheris harness over the Python API.
#
#   bash fuzz/run.sh [seconds]        # seconds per target, default 60
#
# Exits non-zero if any target finds a crash (or fails to build or start);
# every target runs either way. Reproducers land in fuzz/artifacts/<target>/,
# corpora grow in fuzz/corpus/<target>/.
#
# Environment:
#   SEALBOX_FUZZ_TARGETS          targets to run, default "open_message round_trip batch_rotate
#                                 kdf_params atheris_box"
#   SEALBOX_FUZZ_RUST_COVERAGE=1  run atheris_box against a sealbox built with
#                                 SanitizerCoverage in fuzz/target-atheris (its own
#                                 venv), so the fuzzer is guided by Rust coverage too
#   PYTHON                        interpreter for atheris_box, default `python` from PATH;
#                                 it must import sealbox
#   CARGO_FUZZ_VERSION            cargo-fuzz to install when missing, default 0.13.2
#   ATHERIS_VERSION               atheris to install when missing, default 3.0.0
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "usage: bash fuzz/run.sh [seconds]" >&2
    exit 2
fi

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz_dir")
targets=${SEALBOX_FUZZ_TARGETS:-open_message round_trip batch_rotate kdf_params atheris_box}
python=${PYTHON:-python}
corpus=$fuzz_dir/corpus
artifacts=$fuzz_dir/artifacts
# libFuzzer flags shared by every target: bounded time, a per-input timeout,
# and statistics at the end.
fuzz_flags=(-max_total_time="$seconds" -timeout=30 -print_final_stats=1)

failed=()
summary=()

stamp() { date +%s; }

log() { printf '\n==> %s\n' "$*"; }

record() { # name, status, start
    local took=$(($(stamp) - $3))
    summary+=("$(printf '%-14s %-8s %5ss' "$1" "$2" "$took")")
    [[ $2 == ok ]] || failed+=("$1")
}

exec_rate() { # log file: libFuzzer's final statistics
    grep -Eo 'stat::(number_of_executed_units|average_exec_per_sec):[[:space:]]*[0-9]+' "$1" |
        sed -E 's/stat::number_of_executed_units:[[:space:]]*/runs=/; s/stat::average_exec_per_sec:[[:space:]]*/exec\/s=/' |
        paste -sd' ' - || true
}

# The fuzzer's output without its line per new corpus entry (the full log is
# kept in fuzz/target/<target>.log). Never fails, so a pipeline's status is
# the fuzzer's.
quiet() { grep --line-buffered -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE)[[:space:]]' || true; }

wants() { [[ " $targets " == *" $1 "* ]]; }

ensure_cargo_fuzz() {
    if cargo fuzz --version >/dev/null 2>&1; then
        return
    fi
    local version=${CARGO_FUZZ_VERSION:-0.13.2}
    log "installing cargo-fuzz $version"
    local start
    start=$(stamp)
    cargo install cargo-fuzz --locked --version "$version"
    echo "installed cargo-fuzz in $(($(stamp) - start))s"
}

run_cargo_target() { # target
    local target=$1 start status=ok
    local logfile=$fuzz_dir/target/$target.log
    start=$(stamp)
    mkdir -p "$corpus/$target" "$artifacts/$target" "$fuzz_dir/target"
    log "cargo fuzz run $target for ${seconds}s"
    # cargo-fuzz passes -Zsanitizer=address, which a stable toolchain accepts
    # only with RUSTC_BOOTSTRAP, and writes crashes to fuzz/artifacts/<target>/.
    # open_message and batch_rotate write their seed messages (genuine messages
    # under the fixed fuzz keys) into their corpus on start, kdf_params its
    # parameter seeds (OWASP's and the gem's costs, every bound's edges, the
    # scrypt memory product that once overflowed).
    (
        cd "$root"
        RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$fuzz_dir/target SEALBOX_FUZZ_SEEDS=$corpus/$target \
            cargo fuzz run "$target" "$corpus/$target" -- "${fuzz_flags[@]}"
    ) 2>&1 | tee "$logfile" | quiet || status=FAILED
    echo "$target: $(exec_rate "$logfile")"
    record "$target" "$status" "$start"
}

# A sealbox built with SanitizerCoverage, in a venv of its own; prints the
# venv's python.
instrumented_python() {
    local dir=$fuzz_dir/target-atheris
    local venv=$dir/venv host
    host=$(rustc -vV | sed -n 's/^host: //p')
    if [[ ! -x $venv/bin/python ]]; then
        "$python" -m venv "$venv" >&2
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "atheris==${ATHERIS_VERSION:-3.0.0}" "maturin>=1.9,<2" >&2
    rm -rf "$dir/wheels"
    # An explicit --target keeps the coverage flags off build scripts and
    # proc-macros, which the compiler loads itself.
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares" \
        CARGO_TARGET_DIR=$dir/cargo \
        CARGO_PROFILE_RELEASE_LTO=false \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
        "$venv/bin/python" -m maturin build --release --target "$host" \
        --manifest-path "$root/Cargo.toml" --out "$dir/wheels" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --force-reinstall --no-deps "$dir"/wheels/sealbox-*.whl >&2
    echo "$venv/bin/python"
}

run_atheris() {
    local target=atheris_box start status=ok py=$python where
    local logfile=$fuzz_dir/target/$target.log
    start=$(stamp)
    mkdir -p "$corpus/$target" "$artifacts/$target" "$fuzz_dir/target"
    if [[ ${SEALBOX_FUZZ_RUST_COVERAGE:-} == 1 ]]; then
        log "building sealbox with coverage instrumentation"
        if ! py=$(instrumented_python); then
            echo "could not build the instrumented sealbox" >&2
            record "$target" FAILED "$start"
            return
        fi
        where="instrumented build, $fuzz_dir/target-atheris"
    else
        if ! "$py" -c 'import atheris' 2>/dev/null; then
            log "installing atheris"
            "$py" -m pip install --quiet --disable-pip-version-check "atheris==${ATHERIS_VERSION:-3.0.0}"
        fi
        if ! "$py" -c 'import sealbox' 2>/dev/null; then
            echo "$py cannot import sealbox: install it first (pip install .)" >&2
            record "$target" FAILED "$start"
            return
        fi
        where=$("$py" -c 'import os, sealbox; print(os.path.dirname(sealbox.__file__))')
    fi
    log "atheris $target for ${seconds}s (sealbox from $where)"
    (
        cd "$root"
        "$py" "$fuzz_dir/atheris_box.py" "$corpus/$target" "${fuzz_flags[@]}" \
            -artifact_prefix="$artifacts/$target/"
    ) 2>&1 | tee "$logfile" | quiet || status=FAILED
    echo "$target: $(exec_rate "$logfile")"
    record "$target" "$status" "$start"
}

total_start=$(stamp)
cargo_targets=()
for t in open_message round_trip batch_rotate kdf_params; do
    wants "$t" && cargo_targets+=("$t")
done
if ((${#cargo_targets[@]})); then
    ensure_cargo_fuzz
    for t in "${cargo_targets[@]}"; do
        run_cargo_target "$t"
    done
fi
if wants atheris_box; then
    run_atheris
fi

log "fuzzing summary ($(($(stamp) - total_start))s in all)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
