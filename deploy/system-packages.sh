#!/usr/bin/env bash
# Installs the Debian packages schakel needs, and only those that are missing:
# Java 17+ and Maven (the local Apache Kafka broker), PostgreSQL (the lineage store's tests), python3-venv,
# chromium-headless-shell and npm (the console's browser tests and their axe-core accessibility checks),
# poppler-utils (pdftotext and pdftoppm: reading and looking at the art. 15 PDF).
set -euo pipefail

missing=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then missing+=(openjdk-17-jre-headless); fi
command -v mvn >/dev/null || missing+=(maven)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v openssl >/dev/null || missing+=(openssl)  # test certificates (the webhook's mutual TLS)
python3.11 -c 'import venv, ensurepip' 2>/dev/null || command -v python3.11 >/dev/null || missing+=(python3-venv)
command -v chromium-headless-shell >/dev/null || missing+=(chromium-headless-shell fonts-liberation)
command -v npm >/dev/null || missing+=(npm)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)  # the art. 15 PDF: its text in tests, a page as PNG to look at

if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "schakel needs these Debian packages: ${missing[*]} (run as root, or install them yourself)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
