#!/bin/bash
# mmfuzz campaign, sent SIGTERM (or SIGINT) by another process, stops its fuzzer at once, leaves
# no fuzzer process behind and still writes its summary.
# usage: campaign_interrupt.sh MMFUZZ FUZZER WORK SIGNAL
set -u
mmfuzz=$1 fuzzer=$2 work=$3 sig=$4
rm -rf "$work"
mkdir -p "$work"

# A background job of a non-interactive shell starts with SIGINT ignored, as in scripts and CI.
"$mmfuzz" campaign --time 300 --out "$work/out" --seed 1 --fuzzer "$fuzzer" >"$work/log" 2>&1 &
campaign=$!
sleep 5
# The fuzzer processes of this campaign (its -fork parent and jobs), from /proc: no procps needed.
fuzzers() {
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}; pid=${pid%/cmdline}
        [ "$pid" = "$campaign" ] && continue
        tr '\0' ' ' <"$f" 2>/dev/null | grep -q -- "-artifact_prefix=$work/out/crashes/" && echo "$pid"
    done
}
kill_fuzzers() { local p; for p in $(fuzzers); do kill -9 "$p" 2>/dev/null; done; }
if [ -z "$(fuzzers)" ]; then
    echo "no fuzzer running under the campaign after 5 s"; cat "$work/log"; kill -9 $campaign; exit 1
fi
kill -"$sig" $campaign

# The fuzzing stops at once; the summary after it takes a few seconds.
for _ in $(seq 60); do
    kill -0 $campaign 2>/dev/null || break
    sleep 1
done
if kill -0 $campaign 2>/dev/null; then
    echo "campaign still running 60 s after SIG$sig"; cat "$work/log"
    kill -9 $campaign; kill_fuzzers; exit 1
fi
wait $campaign
rc=$?
left=$(fuzzers)
if [ -n "$left" ]; then
    echo "fuzzer processes left behind: $left"; kill_fuzzers; exit 1
fi
if [ $rc -ne 0 ] || ! grep -q "(interrupted)" "$work/out/summary.txt"; then
    echo "exit $rc; expected 0 and an interrupted summary"; cat "$work/log"; exit 1
fi
echo "SIG$sig: campaign stopped, summary written, exit 0"
