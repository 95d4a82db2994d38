#!/bin/sh
# usage: unshare -m sh deb_root.sh DIR — runs DIR/steps.sh as root in a throwaway root: this
# machine's own root file system, copy-on-write in memory (overlayfs on a tmpfs), with /proc,
# /dev and DIR (the packages) as /pkgs. Nothing outside the mount namespace changes.
set -eu
d=$1
mount --make-rprivate /
mkdir -p "$d/t"
mount -t tmpfs -o size=2g t "$d/t"
mkdir "$d/t/u" "$d/t/w" "$d/t/r"
mount -t overlay o -o lowerdir=/,upperdir="$d/t/u",workdir="$d/t/w" "$d/t/r"
mount --rbind /proc "$d/t/r/proc"
mount --rbind /dev "$d/t/r/dev"
mkdir -p "$d/t/r/pkgs"
mount --bind "$d" "$d/t/r/pkgs"
exec chroot "$d/t/r" sh /pkgs/steps.sh
