#!/bin/bash
# The campaign's whole path on a known bug: with a canary on, it finds the bug, exits 1, and each
# (invariant, op) it lists has a minimized reproducer that replays to that invariant with the
# canary and passes without it.
# usage: campaign_finds.sh MMFUZZ FUZZER WORK
set -u
mmfuzz=$1 fuzzer=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
fail() { echo "$1"; cat "$work/log" 2>/dev/null; exit 1; }
"$mmfuzz" campaign --time 4 --inject unfold_drops_dirty --out "$work/out" --seed 1 \
    --fuzzer "$fuzzer" >"$work/log" 2>&1
rc=$?
[ $rc = 1 ] || fail "exit $rc, expected 1 (violations found)"
listed=$(grep -c "^    DIRTY_LOSS-.* x[0-9]*  $work/out/reproducers/" "$work/out/summary.txt")
[ "$listed" -ge 1 ] || fail "no DIRTY_LOSS reproducer listed in the summary"
n=0
for r in "$work/out/reproducers"/*.ops; do
    "$mmfuzz" replay --quiet "$r" | grep -q "VIOLATION DIRTY_LOSS (as expected)" ||
        fail "$r does not replay to DIRTY_LOSS"
    sed '/^# inject:/d; /^# expect:/d' "$r" >"$work/without.ops"
    "$mmfuzz" replay --quiet "$work/without.ops" >/dev/null || fail "$r fails without the canary"
    ops=$(grep -vc '^#\|^mmfuzz' "$r")
    [ "$ops" -le 12 ] || fail "$r has $ops ops after minimization"
    n=$((n + 1))
done
[ $n = "$listed" ] || fail "$listed listed, $n reproducers written"
echo "campaign found unfold_drops_dirty: $n minimized reproducer(s), each DIRTY_LOSS only with it"
