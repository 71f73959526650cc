#!/usr/bin/env bash
# The browser test needs Debian's Chromium and a CJK font (the pages are Chinese); the
# workbook test needs LibreOffice Calc (soffice) to open /导出 as a spreadsheet program does.
# Installs them with apt when missing; run as root (CI) or with sudo.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
command -v soffice >/dev/null || need+=(libreoffice-calc)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} for the browser and workbook tests"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
