#!/usr/bin/env bash
# Installs what the tests start themselves: redis-server, Debian's chromium (for the page test) and nginx
# (the rollout drill test). Idempotent; needs root or sudo on a fresh Debian/Ubuntu machine. The S3-API server (moto) comes from pip with the dev extras.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || need+=(nginx)  # rollout drill test
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing ${need[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The distro service is not needed (tests start their own on free ports): keep it from holding 6379.
(command -v systemctl >/dev/null && systemctl disable --now redis-server nginx >/dev/null 2>&1) || true
redis-server --version
