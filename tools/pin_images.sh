#!/bin/sh
# Pin every image of docker-compose.grafana.yml and the Dockerfile's base by digest.
#
#   tools/pin_images.sh           # rewrite `repo:tag` (and stale digests) to `repo:tag@sha256:...`
#   tools/pin_images.sh --check   # only compare: exit 1 if any image is unpinned or stale
#
# Needs network access and one of `crane` (go-containerregistry) or
# `docker buildx imagetools`; resolves each tag to the digest of its manifest list (the
# multi-platform index), so one pin serves amd64 and arm64 alike. Images built here
# (riskwatch:*) have no registry digest and are left alone. Afterwards, remove the
# `# digest: pin with tools/pin_images.sh` comments and the PENDING_DIGEST entries of
# tests/test_compose.py for the images now pinned.
set -eu
cd "$(dirname "$0")/.."
check=false
[ "${1:-}" = "--check" ] && check=true

digest_of() {
    if command -v crane >/dev/null 2>&1; then
        crane digest "$1"
    else
        docker buildx imagetools inspect "$1" --format '{{json .Manifest}}' \
            | sed -n 's/.*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n 1
    fi
}

status=0
for file in docker-compose.grafana.yml Dockerfile; do
    refs=$(sed -n -e 's/^ *image: *\([^ #]*\).*/\1/p' -e 's/^FROM *\([^ ]*\).*/\1/p' "$file" | sort -u)
    for ref in $refs; do
        case "$ref" in riskwatch:*) continue ;; esac
        name=${ref%@*}
        want=$(digest_of "$name")
        case "$want" in sha256:*) ;; *) echo "$name: no digest found" >&2; status=1; continue ;; esac
        [ "$ref" = "$name@$want" ] && continue
        if $check; then
            echo "$file: $ref is not $name@$want" >&2
            status=1
        else
            sed -i "s|$ref\([ \"]\{0,1\}\)\$|$name@$want\1|" "$file"
            echo "$file: $name@$want"
        fi
    done
done
exit $status
