#!/bin/sh
# dhis2gw @VERSION@ (@TARGET@): a self-extracting file, this POSIX sh header followed by a
# gzip-compressed tar of Deno, the application and its npm cache (scripts/package.ts).
# The first start checks the payload's SHA-256 and unpacks it once into
#   $DHIS2GW_UNPACK_DIR/@ID@, else $XDG_CACHE_HOME/dhis2gw/@ID@, else
#   ~/Library/Caches/dhis2gw/@ID@ (macOS) or ~/.cache/dhis2gw/@ID@;
# every start then execs the unpacked launcher, so this process becomes the gateway.
# `FILE --unpack-only` unpacks, prints the folder and exits (image builds).
id=@ID@
if [ -n "${DHIS2GW_UNPACK_DIR:-}" ]; then
  base=$DHIS2GW_UNPACK_DIR
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
  base=$XDG_CACHE_HOME/dhis2gw
elif [ -n "${HOME:-}" ]; then
  case $(uname -s) in
    Darwin) base=$HOME/Library/Caches/dhis2gw ;;
    *) base=$HOME/.cache/dhis2gw ;;
  esac
else
  echo "dhis2gw: neither HOME nor DHIS2GW_UNPACK_DIR is set: nowhere to unpack" >&2
  exit 1
fi
dir=$base/$id
if [ -f "$dir/.complete" ]; then
  if [ "${1:-}" = --unpack-only ]; then echo "$dir"; exit 0; fi
  exec "$dir/launch" "$@"
fi

die() {
  echo "dhis2gw: $*" >&2
  exit 1
}
payload() { tail -c +@SKIP@ "$0"; }
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1
}
# Removes a partly unpacked folder (the npm cache inside is read-only).
scrap() { [ -d "$1" ] && { chmod -R u+w "$1" 2>/dev/null; rm -rf "$1"; }; }

[ "$(payload | sha256)" = @SHA256@ ] || die "$0 is damaged (its SHA-256 does not match); download it again"
mkdir -p "$base" 2>/dev/null || die "cannot create $base; set DHIS2GW_UNPACK_DIR to a writable folder"
tmp=$(mktemp -d "$base/.$id.XXXXXX" 2>/dev/null) || die "cannot write in $base (disk full or read-only?); set DHIS2GW_UNPACK_DIR to a writable folder"
trap 'scrap "$tmp"; exit 1' HUP INT TERM
if ! payload | gzip -dc 2>/dev/null | tar -xf - -C "$tmp" 2>/dev/null || ! : >"$tmp/.complete" 2>/dev/null; then
  scrap "$tmp"
  die "could not unpack into $base (disk full?); free space or set DHIS2GW_UNPACK_DIR elsewhere"
fi
# Another start may have unpacked the same file meanwhile. Renaming a folder is atomic; mv
# moves ours inside an existing one instead, which is then thrown away. A folder without the
# marker is the remains of something else: moved aside first.
if [ -d "$dir" ] && [ ! -f "$dir/.complete" ]; then
  mv "$dir" "$dir.stale.$$" 2>/dev/null && scrap "$dir.stale.$$"
fi
mv "$tmp" "$dir" 2>/dev/null
scrap "$dir/${tmp##*/}"
scrap "$tmp"
trap - HUP INT TERM
[ -f "$dir/.complete" ] || die "could not unpack into $dir"
if [ "${1:-}" = --unpack-only ]; then echo "$dir"; exit 0; fi
exec "$dir/launch" "$@"
