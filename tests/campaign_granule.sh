#!/bin/bash
# campaign --granule 16K fuzzes the 16K granule: the seeds are rewritten to it, every input the
# campaign keeps is on it, and the same --out then refuses another granule.
# usage: campaign_granule.sh MMFUZZ FUZZER WORK
set -u
mmfuzz=$1 fuzzer=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
fail() { echo "$1"; cat "$work/log" 2>/dev/null; exit 1; }
"$mmfuzz" campaign --time 3 --granule 16K --out "$work/out" --seed 1 --fuzzer "$fuzzer" \
    >"$work/log" 2>&1 || fail "16K campaign: exit $?"
# The granule of each input as the fuzzer decodes it (the header line of 'mmfuzz print'): byte
# mutation may leave header bytes the decoder reads the same, such as another codec version byte.
# An input print cannot read counts as 'unreadable', so it fails the checks below.
granules() {
    local f
    for f in "$1"/*; do
        "$mmfuzz" print "$f" 2>/dev/null | head -n 1 | grep -o 'granule=[0-9]*K' || echo unreadable
    done | sort | uniq -c
}
seeds=$(granules "$work/out/seeds-16K")
corpus=$(granules "$work/out/corpus")
[ "$(echo "$seeds" | wc -l)" = 1 ] && [[ "$seeds" == *" granule=16K" ]] || fail "seeds not all 16K: $seeds"
[ "$(echo "$corpus" | wc -l)" = 1 ] && [[ "$corpus" == *" granule=16K" ]] || fail "corpus not all 16K: $corpus"
grep -q "seeds        $work/out/seeds-16K" "$work/out/summary.txt" || fail "summary names no 16K seeds"
"$mmfuzz" campaign --time 3 --granule 64K --out "$work/out" --fuzzer "$fuzzer" >"$work/log" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "are not on the 64K granule" "$work/log" || fail "64K on a 16K corpus: exit $rc"
echo "16K campaign: seeds and corpus on 16K ($corpus); 64K refused on its corpus"
