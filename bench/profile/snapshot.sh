#!/bin/sh
# Snapshot the current build of @hastack/stack as bench/profile/out/<name>/dist for A/B runs:
#   sh bench/profile/snapshot.sh base && node bench/profile/mem-bulk.mjs --dist out/base/dist
set -e
cd "$(dirname "$0")"
name=${1:-base}
rm -rf "out/$name"
mkdir -p "out/$name"
cp -r ../../packages/stack/dist "out/$name/dist"
ln -s "$(cd ../../packages/stack/node_modules && pwd)" "out/$name/node_modules"
echo "bench/profile/out/$name/dist"
