#!/usr/bin/env bash
# A real single-node Kubernetes for tests, built offline from the official Go
# modules: etcd, Kubernetes (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl: one multi-call binary),
# CoreDNS (the cluster DNS) and, on request, kube-router's network-policy
# firewall (which enforces NetworkPolicy), on its own containerd with Debian's
# runc and CNI plugins. This script manages processes, certificates,
# configuration (rendered from templates/), mounts and iptables; the steps that
# talk to the API (node readiness, storage, CoreDNS's RBAC) are in cluster.ts,
# run through cluster-cli.ts.
# See README.md beside this file.
#
# Usage: testbed.sh up [--netpol] | netpol | build [--netpol] | down | status | kubeconfig | kubectl ARGS... | load-image <ref> | trust-registry <host:port>
#
#   up [--netpol]    builds what is missing (once, cached by version), starts every
#                    component in the background, waits until the node is Ready
#                    and CoreDNS answers, and prints the kubeconfig path on stdout.
#                    NetworkPolicy is not enforced unless --netpol is given (or
#                    kube-router runs already): then kube-router is built if
#                    missing, started, and waited for too.
#                    Idempotent.
#   netpol           the same as `up --netpol`: what a test that relies on
#                    NetworkPolicy being enforced runs (cluster.ts,
#                    enforceNetworkPolicy). Idempotent.
#   build [--netpol] only builds the binaries that are missing (no root needed),
#                    kube-router too with --netpol; `npm start` runs it while it
#                    installs the rest.
#   down             stops everything and removes pods, containers, mounts and
#                    network leftovers; the certificates and the build cache stay.
#   status           state of each component, node readiness, logs folder, kubeconfig.
#   kubeconfig       prints the admin kubeconfig path.
#   kubectl ARGS...  runs the testbed's kubectl as cluster admin, e.g.
#                    `testbed.sh kubectl -n test get pods`.
#   load-image REF   copies an image from the Docker Engine into the testbed's
#                    containerd (namespace k8s.io), for imagePullPolicy: IfNotPresent.
#   trust-registry HOST:PORT
#                    lets pods pull over plain HTTP from a Registry v2 on that
#                    loopback address (containerd's hosts directory).
set -euo pipefail
# shellcheck disable=SC2034 # read by log() in lib.sh
LOG_PREFIX=testbed
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$here/../lib.sh"
# Node 24 for cluster-cli.ts (the machine's own node may be older); `build`
# runs none, and may run beside the caller's own install of Node.js.
if [[ ${1:-} != build ]]; then
  # shellcheck source-path=SCRIPTDIR source=../node/ensure-node.sh
  source "$here/../node/ensure-node.sh"
fi
ROOT=$(cd "$here/../.." && pwd)

# Kubernetes, etcd (v3.6.4) and CoreDNS (v1.12.2) are one binary built from
# k8s/go.mod, which pins all three; K8S_VERSION names its cache folder.
K8S_VERSION=v1.34.4
# Also in kube-router/go.mod. The newest version that the module proxy serves
# here; see README.md for its advisories and why they do not apply.
KUBE_ROUTER_VERSION=v2.1.0
PAUSE_IMAGE=pipeline-local/pause:3.10.1
NODE_NAME=pipeline-testbed

# Addresses. The pod and service ranges stay clear of Docker's 172.17.0.0/16.
# kubelet refuses a loopback node IP, so the node's own address lives on an
# empty bridge that this script creates (the VM kernel has no dummy links);
# the API server reaches the kubelet there.
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1
NODE_IP=10.245.0.1
NODE_IF=tb-node0
BRIDGE_IF=tb-cni0
CNI_NET=pipeline-testbed
APISERVER_PORT=6443
# CoreDNS serves the pods on $NODE_IP:53 (kubelet's clusterDNS); its readiness
# and health endpoints stay on loopback.
COREDNS_READY=127.0.0.1:8181
# shellcheck disable=SC2034 # read by render() through ${!name}
COREDNS_HEALTH=127.0.0.1:8180
# kube-router's /healthz (it listens on every address; there is no flag for one).
KUBE_ROUTER_HEALTH_PORT=20244

STATE=${TESTBED_STATE:-/var/lib/pipeline-testbed}
RUNDIR=${TESTBED_RUNDIR:-/run/pipeline-testbed}
LOGS=$STATE/logs
PKI=$STATE/pki
CONF=$STATE/config
DATA=$STATE/data
PIDS=$RUNDIR/pids
CONTAINERD_SOCK=$RUNDIR/containerd.sock
CERTS_D=$STATE/containerd-hosts
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig
VOLUMES=$STATE/volumes
# One test run deploys Redis (a PersistentVolumeClaim each) into a dozen
# namespaces, and only `up`, once per run, returns Released volumes to the
# pool: enough for that, and for `npm start`'s test namespace besides.
PV_COUNT=24

BIN=$PIPELINE_CACHE/testbed/k8s-$K8S_VERSION/bin
KUBE_ROUTER_BIN=$PIPELINE_CACHE/testbed/kube-router-$KUBE_ROUTER_VERSION/bin
PAUSE_TAR=$PIPELINE_CACHE/testbed/pause-${PAUSE_IMAGE##*:}.tar
# The links to the one binary, `kube` (k8s/cmd/kube/main.go), by the names it answers to.
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl etcd coredns)
# The components, as `status` lists them. `up` starts them in this order, except
# coredns and kube-router, which start last, once their RBAC is in place (and
# kube-router only with --netpol); `down` stops them in the reverse order of
# their start.
COMPONENTS=(containerd etcd kube-apiserver coredns kube-controller-manager kube-scheduler kubelet kube-proxy kube-router)

# ---------------------------------------------------------------------------
# Helpers

need_root() { [[ $(id -u) == 0 ]] || die "the testbed runs containerd and kubelet, which need root; run as root" 2; }

# pid_of COMPONENT: its PID when it runs (lib.sh's pid files: not a process
# that took the number of one from before a reboot).
pid_of() { pidfile_pid "$PIDS/$1.pid" "$1"; }
running() { pid_of "$1" >/dev/null; }

# last_lines COMPONENT: the tail of a component's log, for error messages.
last_lines() { tail -n 25 "$LOGS/$1.log" 2>/dev/null | sed "s/^/  [$1] /" >&2 || true; }

# start COMPONENT BINARY ARGS...: runs it in the background, in its own session,
# with its output in $LOGS/COMPONENT.log, unless it already runs.
start() {
  local name=$1
  shift
  if running "$name"; then
    log "$name is already running (pid $(pid_of "$name"))"
    return 0
  fi
  log "starting $name (log: $LOGS/$name.log)"
  printf '\n==== %s starting %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOGS/$name.log"
  # 9>&-: the component must not inherit the lock that `up` holds.
  setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  pidfile_write "$PIDS/$name.pid" $!
}

# await COMPONENT DESCRIPTION TIMEOUT COMMAND...: polls COMMAND once a second
# until it succeeds; fails at once when the component exits, showing the last
# lines of its log.
await() {
  local name=$1 what=$2 timeout=$3 waited=0
  shift 3
  log "waiting for $what"
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      last_lines "$name"
      die "$name exited while waiting for $what; full log: $LOGS/$name.log"
    fi
    if ((waited >= timeout)); then
      last_lines "$name"
      die "$what: not ready after ${timeout}s; full log: $LOGS/$name.log"
    fi
    if ((waited > 0 && waited % 10 == 0)); then log "still waiting for $what (${waited}s)"; fi
    sleep 1
    waited=$((waited + 1))
  done
}

# cluster_cli [OPTIONS] STEP...: the API steps of cluster.ts (see cluster-cli.ts),
# as cluster admin, in one Node.js process.
cluster_cli() {
  [[ -d $ROOT/node_modules/@kubernetes/client-node ]] ||
    die "the testbed's API steps need the repository's node_modules; run 'npm ci' in $ROOT" 2
  # 9>&-: not the lock that `up` holds.
  # shellcheck disable=SC2154 # _infra_start: lib.sh's clock, so that +Ns runs on
  node "$here/cluster-cli.ts" --kubeconfig "$KUBECONFIG_ADMIN" --log-start "$_infra_start" "$@" 9>&-
}

# ---------------------------------------------------------------------------
# Build: everything lands in $PIPELINE_CACHE, keyed by version.

# The flags of every build; README.md ("How it is built") says what was measured.
# -w drops the DWARF at link time, so the compiler need not make it: the same
# binary for 12 % less compile CPU.
GO_BUILD_FLAGS=(-trimpath -gcflags=all=-dwarf=false)

# go_build NAME MODULE_DIR OUTDIR LDFLAGS PACKAGES...: builds the packages'
# binaries into a new OUTDIR, which replaces the old one whole once the build
# succeeded (with the links of GO_BUILD_LINKS, "LINK=TARGET ...", made in it).
go_build() {
  local name=$1 dir=$2 out=$3 ldflags=$4
  shift 4
  need_go "building $name" 1.24
  local tmp="$out.tmp" buildlog="$PIPELINE_CACHE/testbed/build-$name.log"
  rm -rf "$tmp" && mkdir -p "$tmp"
  [[ -n ${PREFETCHED[$name]:-} ]] || : >"$buildlog"
  log "building $name from the Go module proxy (a cold build takes several minutes; log: $buildlog)"
  local t0=$SECONDS
  build_with_progress "$name" "$buildlog" \
    env -C "$dir" CGO_ENABLED=0 go build "${GO_BUILD_FLAGS[@]}" -ldflags "$ldflags" -o "$tmp/" "$@"
  local link
  for link in ${GO_BUILD_LINKS:-}; do ln -s "${link#*=}" "$tmp/${link%%=*}"; done
  # A running component keeps its binary's inode; `down` and `up` start the new one.
  rm -rf "$out.old"
  if [[ -e $out ]]; then mv "$out" "$out.old"; fi
  mv "$tmp" "$out"
  rm -rf "$out.old"
  log "built $name in $((SECONDS - t0))s"
}

# prefetch NAME MODULE_DIR: downloads a module's dependencies in the background
# (network-bound), so that its build, which waits for the Kubernetes build (CPU-
# bound), finds them in the module cache. Its output goes to the build's log.
PREFETCH_PIDS=()
declare -A PREFETCHED=()
prefetch() {
  local buildlog="$PIPELINE_CACHE/testbed/build-$1.log"
  echo "go mod download (in the background)" >"$buildlog"
  (cd "$2" && go mod download) >>"$buildlog" 2>&1 &
  PREFETCH_PIDS+=($!)
  PREFETCHED[$1]=1
}

# Kubernetes, etcd and CoreDNS in one multi-call binary, `kube`
# (k8s/cmd/kube/main.go), linked once; kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy, kubelet, kubectl, etcd and coredns are symlinks
# to it in $BIN. A cache with anything else there (the separate binaries of
# older versions of this script, or a missing link) is rebuilt and replaced
# whole.
k8s_built() {
  local c
  [[ -x $BIN/kube && ! -L $BIN/kube ]] || return 1
  for c in "${K8S_BINARIES[@]}"; do [[ -L $BIN/$c && $(readlink "$BIN/$c") == kube ]] || return 1; done
  source_unchanged "$BIN" k8s
}

# The cache is keyed by version, and each build records what it was built from
# (source_key) in OUTDIR/.source: a changed main.go, go.mod or go.sum, or other
# build flags, rebuild it rather than leave the old binary in use.
source_key() { # MODULE_DIR: a digest of the module's files and the build flags
  {
    (cd "$here/$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum)
    echo "${GO_BUILD_FLAGS[*]}"
  } | sha256sum | cut -c1-16
}
source_unchanged() { # OUTDIR MODULE_DIR
  local built
  built=$(cat "$1/.source" 2>/dev/null) || built=
  [[ $built == "$(source_key "$2")" ]] && return 0
  log "$1 was built from other sources than infra/testbed/$2 holds now (${built:-no record}); rebuilding"
  return 1
}

build_k8s() {
  k8s_built && return 0
  local v=${K8S_VERSION#v}
  local minor=${v#*.}
  minor=${minor%%.*}
  local x=k8s.io/component-base/version
  local ldflags="-s -w -X $x.gitVersion=$K8S_VERSION -X $x.gitMajor=1 -X $x.gitMinor=$minor"
  ldflags+=" -X $x.gitTreeState=clean -X $x.buildDate=$(date -u +%FT%TZ)"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  local c links=()
  for c in "${K8S_BINARIES[@]}"; do links+=("$c=kube"); done
  GO_BUILD_LINKS="${links[*]}" go_build "kubernetes-$K8S_VERSION" "$here/k8s" "$BIN" "$ldflags" ./cmd/kube
  source_key k8s >"$BIN/.source"
}

# kube-router, for its network-policy firewall only (kube-router/tools.go).
kube_router_built() { [[ -x $KUBE_ROUTER_BIN/kube-router ]] && source_unchanged "$KUBE_ROUTER_BIN" kube-router; }
build_kube_router() {
  kube_router_built && return 0
  local v=github.com/cloudnativelabs/kube-router/v2/pkg/version
  go_build "kube-router-$KUBE_ROUTER_VERSION" "$here/kube-router" "$KUBE_ROUTER_BIN" \
    "-s -w -X $v.Version=$KUBE_ROUTER_VERSION -X $v.BuildDate=$(date -u +%FT%TZ)" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
  source_key kube-router >"$KUBE_ROUTER_BIN/.source"
}

# The pause image is compiled from Kubernetes' own build/pause/linux/pause.c,
# which the k8s.io/kubernetes module carries, into a FROM scratch image.
build_pause() {
  [[ -s $PAUSE_TAR ]] && return 0
  apt_install gcc libc6-dev
  need_go "finding pause.c in the k8s.io/kubernetes module" 1.24
  local src
  src="$(cd "$here/k8s" && go mod download k8s.io/kubernetes && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  [[ -f $src ]] || die "pause.c not found at $src (go mod download k8s.io/kubernetes@$K8S_VERSION)"
  local ctx
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/pause-image.XXXXXX")
  log "compiling the pause image from $src"
  gcc -Os -Wall -Werror -static -DVERSION="v${PAUSE_IMAGE##*:}-pipeline-local" -o "$ctx/pause" "$src"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  bash "$here/../docker/ensure-engine.sh" 9>&- # dockerd must not inherit the lock
  docker build -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null 2>"$ctx/build.log" ||
    { cat "$ctx/build.log" >&2; die "docker build of $PAUSE_IMAGE failed"; }
  docker save -o "$PAUSE_TAR.tmp" "$PAUSE_IMAGE" && mv "$PAUSE_TAR.tmp" "$PAUSE_TAR"
  rm -rf "$ctx"
}

# build_all [--netpol]: the binaries that are missing, one build at a time
# (the lock), Kubernetes (with etcd and CoreDNS) first; kube-router's module
# downloads meanwhile, and builds only with --netpol. Not the pause image,
# which needs the Docker Engine.
build_all() {
  local netpol=${1:-}
  exec 8>>"$PIPELINE_CACHE/testbed/build.lock"
  flock 8
  if ! k8s_built 2>/dev/null && [[ $netpol == --netpol ]] && ! kube_router_built 2>/dev/null; then
    need_go "building the testbed" 1.24
    prefetch "kube-router-$KUBE_ROUTER_VERSION" "$here/kube-router"
  fi
  build_k8s
  if [[ $netpol == --netpol ]]; then build_kube_router; fi
  local pid
  for pid in "${PREFETCH_PIDS[@]}"; do wait "$pid" || true; done
  PREFETCH_PIDS=()
  exec 8>&-
}

# ---------------------------------------------------------------------------
# Certificates and configuration (made once; `down` keeps them).

issue() { # NAME CN O KIND(server|client|both) [SANS]
  local name=$1 cn=$2 o=$3 kind=$4 sans=${5:-}
  [[ -s $PKI/$name.crt ]] && return 0
  local subj="/CN=$cn" ext="$PKI/$name.ext" eku
  [[ -n $o ]] && subj="/O=$o$subj"
  case $kind in
    server) eku=serverAuth ;;
    client) eku=clientAuth ;;
    both) eku=serverAuth,clientAuth ;;
  esac
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

make_pki() {
  mkdir -p "$PKI" && chmod 700 "$PKI"
  if [[ ! -s $PKI/ca.crt ]]; then
    log "creating certificates in $PKI"
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=pipeline-testbed-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  local san="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  san+=",DNS:localhost,IP:127.0.0.1,IP:$SERVICE_IP,IP:$NODE_IP"
  issue apiserver kube-apiserver "" server "$san"
  issue apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
  issue admin pipeline-testbed-admin system:masters client
  issue kubelet "system:node:$NODE_NAME" system:nodes client
  issue kubelet-serving "system:node:$NODE_NAME" system:nodes server "DNS:$NODE_NAME,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
  issue controller-manager system:kube-controller-manager "" client
  issue scheduler system:kube-scheduler "" client
  issue kube-proxy system:kube-proxy "" client
  # Bound to the system:coredns ClusterRole by cluster.ts (ensureDnsRbac).
  issue coredns system:coredns "" client
  # Bound to a read-only ClusterRole by cluster.ts (ensureNetworkPolicyRbac).
  issue kube-router system:kube-router "" client
  if [[ ! -s $PKI/sa.key ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

# The variables that templates/*.tmpl may name, as ${NAME}. Nothing else in a
# template is expanded, so a `$` in its content is safe.
TEMPLATE_VARS=(APISERVER_PORT BRIDGE_IF CERTS_D CNI_NET CONF CONTAINERD_SOCK COREDNS_HEALTH COREDNS_READY
  DATA NODE_IP NODE_NAME PAUSE_IMAGE PKI POD_CIDR RUNDIR SERVICE_CIDR)

# render TEMPLATE [NAME...]: templates/TEMPLATE with ${NAME} replaced for each
# name of TEMPLATE_VARS and each extra NAME (a local of the caller). A
# placeholder that is not in the list stops the script.
render() {
  local file=$here/templates/$1 text name
  shift
  text=$(<"$file")
  for name in "${TEMPLATE_VARS[@]}" "$@"; do text=${text//"\${$name}"/"${!name}"}; done
  if [[ $text =~ \$\{[A-Za-z_][A-Za-z0-9_]*\} ]]; then
    die "$file: ${BASH_REMATCH[0]} is not a variable that render() was given"
  fi
  printf '%s\n' "$text"
}

# The files that put() rewrote in this run; see restart_if_changed.
CHANGED_FILES=()

# put FILE TEMPLATE [NAME...]: renders the template into FILE, rewriting FILE
# only when it differs, so that a second `up` leaves running components alone
# (kube-proxy exits when its config changes; kubelet and coredns are restarted,
# see restart_if_changed).
put() {
  local file=$1 text
  shift
  text=$(render "$@")
  printf '%s\n' "$text" >"$file.tmp"
  if cmp -s "$file.tmp" "$file"; then
    rm -f "$file.tmp"
  else
    [[ -e $file ]] && CHANGED_FILES+=("$file")
    mv "$file.tmp" "$file"
  fi
}

# restart_if_changed COMPONENT FILE...: stops a running component when put()
# rewrote one of its files in this run, so that the start that follows reads
# them. A new file (first `up`) does not count: nothing read the old one.
restart_if_changed() {
  local name=$1 file changed
  shift
  running "$name" || return 0
  for file in "$@"; do
    for changed in "${CHANGED_FILES[@]}"; do
      if [[ $changed == "$file" ]]; then
        log "$(basename "$file") changed; restarting $name"
        stop "$name"
        return 0
      fi
    done
  done
}

write_config() {
  mkdir -p "$CONF" "$CONF/cni" "$CERTS_D"
  local KUBECONFIG_USER=admin
  put "$KUBECONFIG_ADMIN" kubeconfig.tmpl KUBECONFIG_USER
  for KUBECONFIG_USER in kubelet controller-manager scheduler kube-proxy coredns kube-router; do
    put "$CONF/$KUBECONFIG_USER.kubeconfig" kubeconfig.tmpl KUBECONFIG_USER
  done
  put "$CONF/containerd.toml" containerd.toml.tmpl
  put "$CONF/cni/10-$CNI_NET.conflist" cni.conflist.tmpl
  put "$CONF/kubelet.yaml" kubelet.yaml.tmpl
  put "$CONF/kube-proxy.yaml" kube-proxy.yaml.tmpl
  put "$CONF/Corefile" Corefile.tmpl
}

# ---------------------------------------------------------------------------
# Host networking that the testbed owns.

# Pod to pod on the bridge, directly or through a Service's ClusterIP: with
# bridge-nf-call-iptables both go through FORWARD, whose policy Docker sets to
# DROP, and kube-proxy accepts only replies and masqueraded packets there. The
# rule covers nothing that leaves the bridge. `down` deletes it.
POD_FORWARD_RULE=(FORWARD -i "$BRIDGE_IF" -o "$BRIDGE_IF" -m comment --comment "pipeline-testbed pod to pod" -j ACCEPT)

setup_host_network() {
  if ! ip link show "$NODE_IF" >/dev/null 2>&1; then
    ip link add "$NODE_IF" type bridge
  fi
  ip addr replace "$NODE_IP/32" dev "$NODE_IF"
  ip link set "$NODE_IF" up
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.ipv4.conf.all.route_localnet=1
  # Bridged pod-to-pod packets must pass iptables, where kube-router's firewall
  # and kube-proxy's rules are; without it NetworkPolicy is not enforced.
  if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
    modprobe br_netfilter 2>/dev/null || true
  fi
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] ||
    die "the kernel has no br_netfilter (modprobe br_netfilter failed): pod traffic on the bridge would bypass iptables and NetworkPolicy"
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  iptables -C "${POD_FORWARD_RULE[@]}" 2>/dev/null || iptables -A "${POD_FORWARD_RULE[@]}"
}

# ---------------------------------------------------------------------------
# up

install_prerequisites() {
  apt_install containerd runc containernetworking-plugins iptables ipset conntrack socat openssl curl ca-certificates
  local p
  for p in bridge host-local portmap loopback; do
    [[ -x /usr/lib/cni/$p ]] || die "CNI plugin /usr/lib/cni/$p is missing (Debian package containernetworking-plugins)"
  done
}

apiserver_healthy() {
  curl -fsS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null
}

start_containerd() {
  start containerd containerd --config "$CONF/containerd.toml" --log-level info
  await containerd "containerd on $CONTAINERD_SOCK" 30 ctr -a "$CONTAINERD_SOCK" version
  if ! ctr -a "$CONTAINERD_SOCK" -n k8s.io images check "name==docker.io/$PAUSE_IMAGE" 2>/dev/null | grep -q complete; then
    log "importing $PAUSE_IMAGE into the testbed containerd"
    ctr -a "$CONTAINERD_SOCK" -n k8s.io images import "$PAUSE_TAR" >/dev/null
    # Pinned so that no image garbage collection ever removes the sandbox image.
    ctr -a "$CONTAINERD_SOCK" -n k8s.io images label "docker.io/$PAUSE_IMAGE" io.cri-containerd.pinned=pinned >/dev/null
  fi
}

start_control_plane() {
  start etcd "$BIN/etcd" --name "$NODE_NAME" --data-dir "$DATA/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
    --quota-backend-bytes 2147483648 --log-level warn
  await etcd "etcd on 127.0.0.1:2379" 60 curl -fsS --max-time 2 http://127.0.0.1:2381/health

  # bind-address 0.0.0.0 so that pods reach the API through the `kubernetes`
  # Service, whose endpoint is the node address; clients use 127.0.0.1.
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --client-ca-file "$PKI/ca.crt" --requestheader-client-ca-file "$PKI/ca.crt" \
    --requestheader-allowed-names front-proxy-client --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --profiling=false --v=1
  await kube-apiserver "kube-apiserver /readyz on 127.0.0.1:$APISERVER_PORT" 120 apiserver_healthy

  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$CONF/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$CONF/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$CONF/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false \
    --profiling=false --v=1
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$CONF/scheduler.kubeconfig" \
    --authentication-kubeconfig "$CONF/scheduler.kubeconfig" \
    --authorization-kubeconfig "$CONF/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
  await kube-controller-manager "kube-controller-manager /healthz" 60 \
    curl -fsSk --max-time 2 https://127.0.0.1:10257/healthz
  await kube-scheduler "kube-scheduler /healthz" 60 curl -fsSk --max-time 2 https://127.0.0.1:10259/healthz
}

start_node() {
  mkdir -p "$DATA/kubelet" "$DATA/pod-logs"
  # Pods keep running while kubelet restarts.
  restart_if_changed kubelet "$CONF/kubelet.yaml" "$CONF/kubelet.kubeconfig"
  start kubelet "$BIN/kubelet" --config "$CONF/kubelet.yaml" --kubeconfig "$CONF/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$DATA/kubelet" --v=1
  start kube-proxy "$BIN/kube-proxy" --config "$CONF/kube-proxy.yaml" --v=1
  await kubelet "kubelet /healthz" 60 curl -fsS --max-time 2 http://127.0.0.1:10248/healthz
  await kube-proxy "kube-proxy /healthz" 60 curl -fsS --max-time 2 http://127.0.0.1:10256/healthz
}

# Through the API (cluster.ts): CoreDNS's ClusterRole and its binding (and
# kube-router's, when NETPOL), the node is Ready, then storage for
# PersistentVolumeClaims: the default StorageClass and static hostPath volumes,
# with Released ones wiped and returned to the pool.
ready_cluster() {
  local rc=0 netpol=()
  # kube-router's read-only ClusterRole, when it is to run.
  if $NETPOL; then netpol=(--netpol-user system:kube-router netpol-rbac); fi
  cluster_cli --node "$NODE_NAME" --timeout 120 --watch-pid "$(pid_of kubelet || echo 0)" \
    --volumes "$VOLUMES" --pv-count "$PV_COUNT" --dns-user system:coredns \
    dns-rbac "${netpol[@]}" node-ready storage || rc=$?
  case $rc in
    0) ;;
    3) last_lines kubelet; die "node $NODE_NAME did not get Ready; full log: $LOGS/kubelet.log" ;;
    *) die "the cluster's API steps failed (cluster-cli.ts exited with $rc)" ;;
  esac
}

# CoreDNS on $NODE_IP:53, the pods' nameserver (kubelet's clusterDNS). It starts
# after ready_cluster: its kubernetes plugin lists Services, EndpointSlices and
# Namespaces, which RBAC allows only from then on, and a client that was
# refused backs off for up to 30 s. It is ready once it has them all.
start_dns() {
  restart_if_changed coredns "$CONF/Corefile" "$CONF/coredns.kubeconfig"
  start coredns "$BIN/coredns" -conf "$CONF/Corefile"
  await coredns "CoreDNS on $NODE_IP:53 (http://$COREDNS_READY/ready)" 60 \
    curl -fsS --max-time 2 "http://$COREDNS_READY/ready"
}

# NetworkPolicy: kube-router with only its firewall (no routing, no service
# proxy; kube-proxy and the bridge CNI keep those). It turns each policy into
# iptables chains and ipsets for the pods on this node, jumped to from the top
# of INPUT, FORWARD and OUTPUT. Ready once /healthz answers and its FORWARD
# chain ends in the rule that accepts what the policies allow.
start_netpol() {
  restart_if_changed kube-router "$CONF/kube-router.kubeconfig"
  start kube-router "$KUBE_ROUTER_BIN/kube-router" --kubeconfig "$CONF/kube-router.kubeconfig" \
    --hostname-override "$NODE_NAME" --run-firewall=true --run-router=false --run-service-proxy=false \
    --enable-ipv4=true --enable-ipv6=false --service-cluster-ip-range "$SERVICE_CIDR" \
    --health-port "$KUBE_ROUTER_HEALTH_PORT" --metrics-port 0 --v=1
  await kube-router "kube-router's firewall (NetworkPolicy)" 60 netpol_ready
}

netpol_ready() {
  curl -fsS --max-time 2 "http://127.0.0.1:$KUBE_ROUTER_HEALTH_PORT/healthz" &&
    iptables -S KUBE-ROUTER-FORWARD | grep -q -- "--mark 0x20000/0x20000 -j ACCEPT"
}

# cmd_up [--netpol]: everything that deploying the app needs; with --netpol also
# kube-router's firewall, which enforces NetworkPolicy (built first if missing).
# Without --netpol a kube-router that already runs is left alone.
NETPOL=false
cmd_up() {
  case "${1:-}" in
    "") ;;
    --netpol) NETPOL=true ;;
    *) die "usage: testbed.sh up [--netpol]" 2 ;;
  esac
  need_root
  local t0=$SECONDS
  install_prerequisites
  local c any=false
  for c in "${COMPONENTS[@]}"; do running "$c" && any=true; done
  if ! $any && [[ -d $DATA ]]; then
    # Killed without `down` (a reboot, the end of a CI job): start afresh.
    log "the previous testbed was not shut down; cleaning up its leftovers first"
    cmd_down
  fi
  mkdir -p "$STATE" "$LOGS" "$DATA" "$RUNDIR" "$PIDS" "$PIPELINE_CACHE/testbed"
  # A kube-router that runs already (an earlier `netpol`) stays, and is checked.
  running kube-router && NETPOL=true
  if $NETPOL; then build_all --netpol; else build_all; fi
  build_pause
  make_pki
  write_config
  setup_host_network
  start_containerd
  start_control_plane
  start_node
  ready_cluster
  start_dns
  local enforced
  enforced="NetworkPolicy not enforced (bash $(self) netpol adds it)"
  if $NETPOL; then
    start_netpol
    enforced="NetworkPolicy enforced"
  fi
  log "testbed is up in $((SECONDS - t0))s: node $NODE_NAME Ready, cluster DNS on $NODE_IP, $enforced, logs in $LOGS;" \
    "see what a deploy did with: bash $(self) kubectl -n test get all,pvc,events"
  echo "$KUBECONFIG_ADMIN"
}

# ---------------------------------------------------------------------------
# down

# stop NAME...: SIGTERM to all at once, SIGKILL to those still there after 10 s.
stop() {
  local name pid pids=()
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$PIDS/$name.pid"
  done
  local i
  for ((i = 0; i < 100; i++)); do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && break; pid=; done
    [[ -z ${pid:-} ]] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# Pods' processes: the containerd shims that serve our containerd's socket, and
# everything below them.
kill_shims() {
  local pid cmdline
  local dir
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || continue
    if [[ $cmdline == *containerd-shim* && $cmdline == *"-address $CONTAINERD_SOCK"* ]]; then
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

unmount_under() { # DIR...: unmounts every mount point below the given dirs, deepest first
  local dir
  for dir in "$@"; do
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
      sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
}

# kube-router's firewall: the jumps from INPUT, FORWARD and OUTPUT, its chains
# (KUBE-ROUTER-*, per pod KUBE-POD-FW-*, per policy KUBE-NWPLCY-*), then its
# ipsets (KUBE-SRC-*, KUBE-DST-*), which the chains referenced. The same as
# `kube-router --cleanup-config` does for the firewall, without the routing and
# IPVS cleanup that it does too.
cleanup_netpol() {
  local chain rule
  for chain in INPUT FORWARD OUTPUT; do
    { iptables -S "$chain" 2>/dev/null | grep -E -- "-j KUBE-ROUTER-(INPUT|FORWARD|OUTPUT)( |$)" || true; } |
      while read -r rule; do eval "iptables ${rule/-A/-D}" 2>/dev/null || true; done
  done
  local chains
  chains=$(iptables -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-ROUTER-|KUBE-POD-FW-|KUBE-NWPLCY-)/ { print $2 }')
  for chain in $chains; do iptables -F "$chain" 2>/dev/null || true; done
  for chain in $chains; do iptables -X "$chain" 2>/dev/null || true; done
  if command -v ipset >/dev/null; then
    local set
    for set in $(ipset list -n 2>/dev/null | grep -E '^KUBE-(SRC|DST)-' || true); do
      ipset destroy "$set" 2>/dev/null || true
    done
  fi
}

cleanup_network() {
  local table rule chain parent
  cleanup_netpol
  ip link del "$BRIDGE_IF" 2>/dev/null || true
  ip link del "$NODE_IF" 2>/dev/null || true
  rm -rf "$RUNDIR/cni-ipam"
  while iptables -D "${POD_FORWARD_RULE[@]}" 2>/dev/null; do :; done
  # kube-proxy's chains, then kubelet's.
  if [[ -x $BIN/kube-proxy ]]; then "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  for table in filter nat mangle; do
    iptables -t "$table" -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
    iptables -t "$table" -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
    for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY; do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
  # kube-proxy turned this on for NodePorts on 127.0.0.1; Debian's default is off.
  sysctl -qw net.ipv4.conf.all.route_localnet=0 || true
  # The CNI bridge and portmap plugins' rules carry our network's name in a
  # comment; each leads to a per-pod chain.
  for parent in POSTROUTING CNI-HOSTPORT-DNAT; do
    { iptables -t nat -S "$parent" 2>/dev/null | grep -F "name: \\\"$CNI_NET\\\"" || true; } | while read -r rule; do
      chain=$(sed -E 's/.* -j (CNI-[A-Za-z0-9-]+).*/\1/' <<<"$rule")
      eval "iptables -t nat ${rule/-A/-D}" 2>/dev/null || true
      if [[ $chain == CNI-* ]]; then
        iptables -t nat -F "$chain" 2>/dev/null || true
        iptables -t nat -X "$chain" 2>/dev/null || true
      fi
    done
  done
  # portmap's shared chains, once no pod uses them.
  if [[ $(iptables -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | wc -l) == 1 ]]; then
    iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null || true
    iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null || true
    iptables -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ 2>/dev/null || true
    for chain in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
      iptables -t nat -F "$chain" 2>/dev/null || true
      iptables -t nat -X "$chain" 2>/dev/null || true
    done
  fi
  iptables -t mangle -X KUBE-IPTABLES-HINT 2>/dev/null || true
}

cmd_down() {
  need_root
  # The cluster's state is wiped below, so nothing needs an orderly shutdown.
  stop kube-router coredns kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd
  kill_shims
  stop containerd
  # Pod network namespaces that our containerd made: their netns files are
  # bind mounts in /run/netns named cni-<uuid>, and the bridge leads to them.
  local ns
  for ns in /run/netns/cni-*; do
    [[ -e $ns ]] || continue
    if ip netns exec "${ns##*/}" ip -o addr show 2>/dev/null | grep -q "inet ${POD_CIDR%.*}\."; then
      umount "$ns" 2>/dev/null || true
      rm -f "$ns"
    fi
  done
  unmount_under "$DATA" "$RUNDIR" "$VOLUMES"
  cleanup_network
  rm -rf "$DATA" "$RUNDIR" "$VOLUMES"
  log "testbed is down (logs kept in $LOGS)"
}

# ---------------------------------------------------------------------------
# status, kubeconfig, load-image, trust-registry

cmd_status() {
  local c state pid
  for c in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$c"); then
      state="running (pid $pid)"
    elif [[ $c == kube-router ]]; then
      state="stopped: NetworkPolicy not enforced (bash $(self) netpol starts it)"
    else
      state=stopped
    fi
    printf '%-24s %s\n' "$c" "$state"
  done
  if [[ -r $PKI/admin.key ]] && apiserver_healthy 2>/dev/null; then
    printf '%-24s %s\n' "node $NODE_NAME" "$(cluster_cli --node "$NODE_NAME" node-status 2>&1)"
  else
    printf '%-24s %s\n' "node $NODE_NAME" "unknown (API server not answering)"
  fi
  printf '%-24s %s\n' logs "$LOGS" kubeconfig "$KUBECONFIG_ADMIN"
}

cmd_load_image() {
  local ref=${1:-}
  [[ -n $ref ]] || die "usage: testbed.sh load-image <image-ref>" 2
  need_root
  if ! running containerd; then die "the testbed's containerd is not running; run 'testbed.sh up' first" 2; fi
  docker image inspect "$ref" >/dev/null 2>&1 || die "image $ref is not in the Docker Engine (docker image inspect $ref)" 2
  log "loading $ref into the testbed containerd"
  # docker save | ctr import: ctr reads the archive from stdin ("-").
  docker save "$ref" | ctr -a "$CONTAINERD_SOCK" -n k8s.io images import - >/dev/null ||
    die "importing $ref into the testbed containerd failed"
}

cmd_trust_registry() {
  local hostport=${1:-}
  [[ $hostport =~ ^(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost):[0-9]+$ ]] ||
    die "usage: testbed.sh trust-registry <127.x.x.x:port>; only loopback registries are trusted over plain HTTP" 2
  mkdir -p "$CERTS_D/$hostport"
  # shellcheck disable=SC2034 # read by render() through ${!name}
  local REGISTRY=$hostport
  put "$CERTS_D/$hostport/hosts.toml" hosts.toml.tmpl REGISTRY
  log "pods may now pull from http://$hostport (containerd reads $CERTS_D/$hostport/hosts.toml on each pull)"
}

# kubectl as cluster admin. Its discovery cache goes to the testbed's state
# folder rather than ~/.kube.
cmd_kubectl() {
  [[ -x $BIN/kubectl ]] || die "kubectl is not built yet; 'testbed.sh up' builds it with the cluster" 2
  [[ -r $PKI/admin.key ]] || die "cannot read the admin key $PKI/admin.key; run as root after 'testbed.sh up'" 2
  KUBECONFIG=$KUBECONFIG_ADMIN KUBECACHEDIR=$STATE/kubectl-cache exec "$BIN/kubectl" "$@"
}

# The binaries only (no root, no cluster): what `up` would build, for a caller
# that compiles while it does other things (infra/quickstart.sh).
cmd_build() {
  case "${1:-}" in
    "" | --netpol) ;;
    *) die "usage: testbed.sh build [--netpol]" 2 ;;
  esac
  mkdir -p "$PIPELINE_CACHE/testbed"
  build_all "${1:-}"
}

# This script's path as the user may type it: relative when under the working directory.
self() { local s=$here/testbed.sh; echo "${s#"$PWD"/}"; }

# One up or down at a time (two test processes may call up together).
serialize() {
  exec 9>/run/pipeline-testbed.lock
  flock 9
}

case "${1:-}" in
  up) serialize && cmd_up "${2:-}" ;;
  netpol) serialize && cmd_up --netpol ;;
  build) cmd_build "${2:-}" ;;
  down) serialize && cmd_down ;;
  status) cmd_status ;;
  kubeconfig) echo "$KUBECONFIG_ADMIN" ;;
  kubectl) shift && cmd_kubectl "$@" ;;
  load-image) cmd_load_image "${2:-}" ;;
  trust-registry) cmd_trust_registry "${2:-}" ;;
  *) die "usage: testbed.sh up [--netpol] | netpol | build [--netpol] | down | status | kubeconfig | kubectl ARGS... | load-image <ref> | trust-registry <host:port>" 2 ;;
esac
