#!/bin/sh
# The multistage lab done by hand: the same docker commands `invoke lab.multistage --yes`
# runs (the builder pattern's build.sh steps, the multi-stage builds, the runs), against
# the same fixture site, served by python's http.server on loopback, and the same
# offline base images.
#
#   multistage_by_hand.sh LAB_DIR WORK_DIR TAG PORT RUN_ID
#
# LAB_DIR holds app/ and site/ (a copy of labs/multistage); WORK_DIR is made afresh.
# Every build, create and run carries mobylab's labels plus org.mobylab.bench=RUN_ID,
# so the benchmark removes exactly what this script made.
set -eu

lab=$1
work=$2
tag=$3
port=$4
run_id=$5
builder=${BUILDER:-mobylab/golang:1.19-bookworm}
runtime=${RUNTIME:-mobylab/runtime:busybox}
extract=extract-$run_id
url=http://127.0.0.1:$port/
labels="--label org.mobylab.managed=true --label org.mobylab.component=bench
  --label org.mobylab.lab=multistage --label org.mobylab.version=0.1.0
  --label org.mobylab.bench=$run_id"

rm -rf "$work"
mkdir -p "$work/site"
cp -R "$lab/app" "$work/app"
for page in "$lab"/site/*; do
    sed "s#{{origin}}#http://127.0.0.1:$port#g" "$page" > "$work/site/${page##*/}"
done
cd "$work/app"
for file in Dockerfile*; do
    sed -i -e "s#^FROM golang:1.7.3#FROM $builder#" -e "s#^FROM alpine:latest#FROM $runtime#" "$file"
done

python3 -m http.server --bind 127.0.0.1 --directory "$work/site" "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -sf -o /dev/null "$url"; do sleep 0.02; done

# 1. The builder pattern.
# shellcheck disable=SC2086  # $labels is several words on purpose
docker build $labels -t "$tag:build" . -f Dockerfile.build
docker create $labels --name "$extract" "$tag:build"
docker cp "$extract:/go/src/github.com/alexellis/href-counter/app" ./app
docker rm -f "$extract"
docker build $labels --no-cache -t "$tag:latest" .
docker run --rm $labels --network host -e "url=$url" "$tag:latest"

# 2. Multi-stage, 3. named stages, 4. FROM scratch.
for variant in multi named scratch; do
    docker build $labels -t "$tag:$variant" . -f "Dockerfile.$variant"
    docker run --rm $labels --network host -e "url=$url" "$tag:$variant"
done

# 5. Stop at a stage.
docker build --target builder $labels -t "$tag:builder" . -f Dockerfile.named
docker run --rm $labels --network host -e "url=$url" "$tag:builder" ./app

# 6. Compare.
docker images "$tag"
