#!/usr/bin/env bash
# snapshots.sh — review pending insta snapshots (tests/snapshots/*.snap.new) without cargo-insta.
#
#   scripts/snapshots.sh run [TEST…]      run the snapshot tests (default: render render_etcd
#                                         render_inspect); a changed screen is written beside the
#                                         blessed one as NAME.snap.new, the blessed one is untouched
#   scripts/snapshots.sh review           show each pending snapshot as a diff against the blessed one
#   scripts/snapshots.sh accept NAME…     bless the named pending snapshots (NAME or NAME.snap.new)
#   scripts/snapshots.sh reject [NAME…]   drop pending snapshots (all when none named)
#
# Nothing is blessed without naming it: read every diff, then accept the ones you meant.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=tests/snapshots

pending() { find "$dir" -name '*.snap.new' | sort; }

# the snapshot body, without insta's header (which carries the assertion line)
body() { awk 'n >= 2 {print} /^---$/ {n++}' "$1"; }

case ${1:-} in
  run)
    shift
    tests=("$@")
    ((${#tests[@]})) || tests=(render render_etcd render_inspect)
    args=()
    for t in "${tests[@]}"; do args+=(--test "$t"); done
    INSTA_UPDATE=new INSTA_FORCE_PASS=1 cargo test --no-fail-fast "${args[@]}" || true
    n=$(pending | wc -l)
    echo "snapshots: $n pending (scripts/snapshots.sh review)"
    ;;
  review)
    n=0
    while read -r new; do
      [[ -n $new ]] || continue
      n=$((n + 1))
      old=${new%.new}
      echo "=== $(basename "$old")"
      if [[ -f $old ]]; then
        diff -u <(body "$old") <(body "$new") --label blessed --label pending || true
      else
        echo "(new snapshot)"; body "$new"
      fi
    done < <(pending)
    echo "snapshots: $n pending"
    ;;
  accept)
    shift
    (($#)) || { echo "accept which? name them (scripts/snapshots.sh review lists them)" >&2; exit 2; }
    for name in "$@"; do
      name=$(basename "$name"); name=${name%.new}; name=${name%.snap}
      new=$dir/$name.snap.new
      [[ -f $new ]] || { echo "no pending snapshot $name" >&2; exit 1; }
      # insta's own header minus the assertion line, as a blessed snapshot has it
      grep -v '^assertion_line: ' "$new" > "$dir/$name.snap"
      rm "$new"
      echo "accepted $name"
    done
    ;;
  reject)
    shift
    if (($#)); then
      for name in "$@"; do name=$(basename "$name"); name=${name%.new}; name=${name%.snap}; rm -v "$dir/$name.snap.new"; done
    else
      pending | xargs -r rm -v
    fi
    ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
