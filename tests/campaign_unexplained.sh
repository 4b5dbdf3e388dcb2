#!/bin/bash
# A file in the campaign's crashes/ that replays without a violation (what a sanitizer report, a
# timeout or an out-of-memory leaves) is named in the summary and fails the campaign.
# usage: campaign_unexplained.sh MMFUZZ FUZZER WORK SEED_FILE
set -u
mmfuzz=$1 fuzzer=$2 work=$3 seed=$4
rm -rf "$work"
mkdir -p "$work/out/crashes"
cp "$seed" "$work/out/crashes/timeout-passing-seed"
"$mmfuzz" campaign --time 2 --out "$work/out" --seed 1 --fuzzer "$fuzzer" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 1 ]; then
    echo "exit $rc, expected 1"; cat "$work/log"; exit 1
fi
if ! grep -q "unexplained  1 crash file(s) without a violation here" "$work/out/summary.txt" ||
   ! grep -qxF "    $work/out/crashes/timeout-passing-seed  (replays without a violation)" \
        "$work/out/summary.txt"; then
    echo "the summary does not name timeout-passing-seed:"; cat "$work/out/summary.txt"; exit 1
fi
echo "campaign named the unexplained crash file and exited 1"
