#!/usr/bin/env bash
# fetch_mnist.sh DIR: downloads the four MNIST .gz files into DIR, trying mirrors in order, and keeps a
# file only once its SHA-256 matches. Files already present with the right hash are skipped.
# Then: logreg_cuda train --data DIR. MNIST_MIRRORS="URL/ URL/ ..." replaces the mirror list (e.g. file:// for a
# local copy).
set -euo pipefail

if [[ $# -ne 1 || "$1" == -h || "$1" == --help ]]; then
  echo "usage: $0 DIR   (downloads the four MNIST .gz files into DIR)" >&2
  exit 2
fi
dir=$1

mirrors=(
  "https://ossci-datasets.s3.amazonaws.com/mnist/"
  "https://storage.googleapis.com/cvdf-datasets/mnist/"
  "http://yann.lecun.com/exdb/mnist/"
)
if [[ -n "${MNIST_MIRRORS:-}" ]]; then read -r -a mirrors <<< "$MNIST_MIRRORS"; fi
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
declare -A sha256=(
  [train-images-idx3-ubyte.gz]=440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
  [train-labels-idx1-ubyte.gz]=3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
  [t10k-images-idx3-ubyte.gz]=8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
  [t10k-labels-idx1-ubyte.gz]=f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
)

if command -v curl > /dev/null; then
  download() { curl --fail --silent --show-error --location --connect-timeout 10 --max-time 600 -o "$2" "$1"; }
elif command -v wget > /dev/null; then
  download() { wget --quiet --connect-timeout=10 --timeout=60 --tries=1 -O "$2" "$1"; }
else
  echo "fetch_mnist.sh: neither curl nor wget is installed" >&2
  exit 1
fi
command -v sha256sum > /dev/null || { echo "fetch_mnist.sh: sha256sum not found (coreutils)" >&2; exit 1; }

hash_of() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$dir"
tmp=""
cleanup() { [[ -n "$tmp" ]] && rm -f "$tmp"; return 0; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

for name in "${files[@]}"; do
  target="$dir/$name"
  want=${sha256[$name]}
  if [[ -f "$target" && "$(hash_of "$target")" == "$want" ]]; then
    echo "$target: already present, SHA-256 matches"
    continue
  fi
  tmp=$(mktemp "$dir/.$name.XXXXXX")
  ok=0
  for mirror in "${mirrors[@]}"; do
    echo "fetching $mirror$name" >&2
    if ! download "$mirror$name" "$tmp"; then
      echo "  failed; trying the next mirror" >&2
      continue
    fi
    got=$(hash_of "$tmp")
    if [[ "$got" != "$want" ]]; then
      echo "  SHA-256 mismatch (expected $want, got $got); trying the next mirror" >&2
      continue
    fi
    chmod 644 "$tmp"
    mv -f "$tmp" "$target"
    tmp=""
    ok=1
    echo "$target: OK"
    break
  done
  if [[ $ok -ne 1 ]]; then
    echo "fetch_mnist.sh: could not download $name from any mirror (${mirrors[*]})." >&2
    echo "  Is this machine offline? Copy the four MNIST .gz files into $dir by hand, or use Debian's" >&2
    echo "  Fashion-MNIST (apt install dataset-fashion-mnist; logreg_cuda uses it when no --data is given)." >&2
    exit 1
  fi
done
echo "MNIST is in $dir. Run: logreg_cuda train --data $dir"
