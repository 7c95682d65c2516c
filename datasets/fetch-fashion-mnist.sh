#!/usr/bin/env bash
# Make the real Fashion-MNIST (Zalando SE, MIT/Expat licence) available as the
# four IDX .gz files in datasets/cache/fashion-mnist/, taken from the Debian
# package `dataset-fashion-mnist`. Idempotent: does nothing when the files are
# already there and match datasets/fashion-mnist.manifest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
manifest="$here/fashion-mnist.manifest"
dest="$root/datasets/cache/fashion-mnist"
pkg=dataset-fashion-mnist
pkgdir=usr/share/datasets/fashion-mnist

# verify DIR: every manifest file present in DIR with the right sha256, size
# and IDX item count. Prints the first problem to stderr and returns 1.
verify() {
    local dir="$1" sha name bytes count
    while read -r sha name bytes count; do
        [[ -z "${sha:-}" ]] && continue
        local f="$dir/$name"
        if [[ ! -f "$f" ]]; then echo "missing: $f" >&2; return 1; fi
        if [[ "$(stat -c %s "$f")" != "$bytes" ]]; then echo "size mismatch: $f" >&2; return 1; fi
        if [[ "$(sha256sum "$f" | cut -d' ' -f1)" != "$sha" ]]; then echo "sha256 mismatch: $f" >&2; return 1; fi
        # IDX header: magic (4 bytes), then the item count as big-endian u32.
        local n
        n=$( (gzip -dc "$f" 2>/dev/null || true) | head -c 8 | od -An -tu1 | awk '{print $5*16777216 + $6*65536 + $7*256 + $8}')
        if [[ "$n" != "$count" ]]; then echo "count mismatch: $f has $n, want $count" >&2; return 1; fi
    done < "$manifest"
}

if verify "$dest" 2>/dev/null; then
    echo "fashion-mnist: present and verified at $dest"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# apt downloads as its unprivileged _apt user where it exists; let it write here.
if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi

if ! (cd "$tmp" && apt-get download -q "$pkg" >/dev/null); then
    apt-get update -q >/dev/null
    (cd "$tmp" && apt-get download -q "$pkg" >/dev/null)
fi
dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/x"
verify "$tmp/x/$pkgdir"

mkdir -p "$dest"
while read -r _ name _ _; do
    [[ -z "${name:-}" ]] && continue
    cp "$tmp/x/$pkgdir/$name" "$dest/$name.part"
    mv -f "$dest/$name.part" "$dest/$name"
done < "$manifest"
verify "$dest"
echo "fashion-mnist: fetched and verified at $dest"
