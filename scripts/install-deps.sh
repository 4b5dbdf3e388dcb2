#!/usr/bin/env bash
# Installs the Debian packages mmfuzz builds with, when any is missing. Idempotent: does nothing
# (and needs no network) when everything is present.
#   --coverage   also the LLVM tools scripts/coverage.sh needs (llvm-profdata-14, llvm-cov-14)
#   --libc++     also libc++, for scripts/check-oss-fuzz-build.sh --libc++
set -euo pipefail

packages=(cmake ninja-build clang lld libclang-rt-14-dev libgtest-dev librapidcheck-dev zip unzip)
for arg in "$@"; do
  case "$arg" in
    --coverage) packages+=(llvm-14) ;;
    --libc++) packages+=(libc++-14-dev libc++abi-14-dev) ;;
    *) echo "install-deps: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
