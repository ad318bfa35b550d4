#!/bin/sh
# Build the offline validators of deploy/k8s (Go modules, pinned) into $SCHAKEL_CACHE_DIR/go-bin, once;
# promtool comes from Debian's prometheus package (pinned; a prebuilt binary, seconds to fetch); `tools.sh promtool`
# builds Prometheus 3's promtool from source instead (~14 min). Without a Go toolchain, or without apt-get for
# promtool, this says so and exits 0: the validation tests then skip with the same message.
set -eu
# The cache dir the CLI uses for a checkout (its .cache/) unless SCHAKEL_CACHE_DIR says otherwise.
SCHAKEL_CACHE_DIR="${SCHAKEL_CACHE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.cache}"
BIN="$SCHAKEL_CACHE_DIR/go-bin"
KUSTOMIZE=sigs.k8s.io/kustomize/kustomize/v5@v5.5.0
KUBECONFORM=github.com/yannh/kubeconform/cmd/kubeconform@v0.6.7
PROMTOOL=github.com/prometheus/prometheus/cmd/promtool@v0.300.1  # Prometheus 3.0.1
PROMTOOL_DEB=prometheus=2.42.0+ds-5+deb12u1  # Debian 12's package: promtool 2.42 checks the rules' syntax alike
mkdir -p "$BIN"
if [ "$(cat "$BIN/promtool.version" 2>/dev/null)" = "" ] || [ ! -x "$BIN/promtool" ]; then
    if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
        echo "fetching promtool ($PROMTOOL_DEB)"
        DEB=$(mktemp -d)
        if (cd "$DEB" && apt-get download -q "$PROMTOOL_DEB" >/dev/null 2>&1) && dpkg-deb -x "$DEB"/prometheus_*.deb "$DEB/x"; then
            cp "$DEB/x/usr/bin/promtool" "$BIN/promtool" && echo "$PROMTOOL_DEB" > "$BIN/promtool.version"
        else
            echo "deploy/k8s/tools.sh: $PROMTOOL_DEB could not be fetched; the alert rules test skips"
        fi
        rm -rf "$DEB"
    else
        echo "deploy/k8s/tools.sh: no apt-get; promtool not fetched (\`make promtool\` builds it; the alert rules test skips)"
    fi
fi
if ! command -v go >/dev/null 2>&1; then
    echo "deploy/k8s/tools.sh: no Go toolchain; kustomize and kubeconform not built (their tests skip)"
    exit 0
fi
build() {  # name module: go install unless the pinned version is already there
    if [ ! -x "$BIN/$1" ] || [ "$(cat "$BIN/$1.version" 2>/dev/null)" != "$2" ]; then
        echo "building $2"
        GOBIN="$BIN" GOPATH="${SCHAKEL_CACHE_DIR}/gopath" GOFLAGS=-modcacherw go install "$2" &&
            echo "$2" > "$BIN/$1.version"
    fi
}
build kustomize "$KUSTOMIZE"
build kubeconform "$KUBECONFORM"
# promtool's go.mod has exclude directives, which `go install module@version` refuses: build it in its module.
# It takes ~14 min of compiling on a busy 2-core machine, so only on request (`make promtool`), not in `make test`;
# it then replaces the Debian one.
if [ "${1:-}" = promtool ] && { [ ! -x "$BIN/promtool" ] || [ "$(cat "$BIN/promtool.version" 2>/dev/null)" != "$PROMTOOL" ]; }; then
    echo "building $PROMTOOL"
    export GOPATH="${SCHAKEL_CACHE_DIR}/gopath" GOFLAGS=-modcacherw
    DIR=$(go mod download -json "${PROMTOOL%%/cmd/*}@${PROMTOOL##*@}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    if (cd "$DIR" && go build -o "$BIN/promtool" ./cmd/promtool); then
        echo "$PROMTOOL" > "$BIN/promtool.version"
    else
        echo "deploy/k8s/tools.sh: promtool did not build here; the alert rules test skips"
    fi
fi
