#!/usr/bin/env bash
# Starts and stops the local test environment: etcd, kube-apiserver and moto on free
# localhost ports. `up` writes $ORGOPS_RUN_DIR/env (KUBECONFIG, AWS_* variables) for
# `source`; `down` stops everything `up` started.
#
#   tests/harness/env.sh up               start (a no-op when already running)
#   tests/harness/env.sh down             stop and remove the state
#   tests/harness/env.sh apiserver-stop   stop the kube-apiserver alone (etcd keeps the state)
#   tests/harness/env.sh apiserver-start  start it again, on the same port
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${ORGOPS_RUN_DIR:-$(cd "$here/../.." && pwd)/target/harness}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until a command succeeds, for at most $1 seconds.
wait_for() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "timed out after ${limit}s waiting for: $*" >&2
      return 1
    fi
    sleep 0.2
  done
}

start() { # name, command...: runs it in its own session, logs and pid under $run
  local name=$1; shift
  setsid "$@" >"$run/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
}

alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

make_certs() {
  local d=$run/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=orgops-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 30 -extfile "$d/ext.cnf" -out "$d/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  echo "$(openssl rand -hex 24),admin,admin,system:masters" >"$d/tokens.csv"
}

up() {
  if alive etcd && alive kube-apiserver && alive moto; then
    echo "already running; environment in $run/env" >&2
    return 0
  fi
  down >/dev/null 2>&1 || true
  mkdir -p "$run"
  local bin venv
  bin=$("$here/build-control-plane.sh")
  venv=$("$here/install-moto.sh")
  make_certs

  local etcd_port peer_port api_port moto_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port); moto_port=$(free_port)

  start etcd "$bin/etcd" --data-dir "$run/etcd" --name default \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
  # StackSet operations stay RUNNING for a while, as in AWS (see moto_stack_sets.py).
  export MOTO_STACK_SET_OPERATION_SECONDS=${MOTO_STACK_SET_OPERATION_SECONDS:-2}
  start moto "$venv/bin/python" "$here/moto_server.py" -H 127.0.0.1 -p "$moto_port"
  wait_for 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  local d=$run/pki
  # Kept, so apiserver-start runs it again the same way.
  cat >"$run/kube-apiserver.args" <<ARGS
$bin/kube-apiserver
--etcd-servers=http://127.0.0.1:$etcd_port
--bind-address=127.0.0.1
--advertise-address=127.0.0.1
--secure-port=$api_port
--tls-cert-file=$d/apiserver.crt
--tls-private-key-file=$d/apiserver.key
--client-ca-file=$d/ca.crt
--token-auth-file=$d/tokens.csv
--service-account-issuer=https://kubernetes.default.svc
--service-account-key-file=$d/sa.pub
--service-account-signing-key-file=$d/sa.key
--service-cluster-ip-range=10.0.0.0/24
--authorization-mode=RBAC
--enable-priority-and-fairness=false
--disable-admission-plugins=ServiceAccount
--profiling=false
--v=1
ARGS
  start_apiserver

  local token
  token=$(cut -d, -f1 "$d/tokens.csv")
  cat >"$run/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: orgops-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $d/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: orgops-test
  context: {cluster: orgops-test, user: admin, namespace: default}
current-context: orgops-test
KUBECONFIG
  cat >"$run/env" <<ENV
export PATH=\$PATH:$bin
export KUBECONFIG=$run/kubeconfig
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export ORGOPS_MOTO_PYTHON=$venv/bin/python
export ORGOPS_E2E=1
ENV
  wait_for 60 curl -sf --cacert "$d/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz"
  wait_for 30 curl -sf "http://127.0.0.1:$moto_port/moto-api/"
  echo "environment up: source $run/env" >&2
}

start_apiserver() {
  local args=()
  mapfile -t args <"$run/kube-apiserver.args"
  start kube-apiserver "${args[@]}"
}

apiserver_ready() {
  local d=$run/pki token port
  token=$(cut -d, -f1 "$d/tokens.csv")
  port=$(sed -n 's/^--secure-port=//p' "$run/kube-apiserver.args")
  curl -sf --cacert "$d/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$port/readyz"
}

apiserver_stop() {
  local pid; pid=$(cat "$run/kube-apiserver.pid")
  kill -- -"$pid" 2>/dev/null || kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 -- -"$pid" 2>/dev/null || true
}

down() {
  local name
  for name in operator kube-apiserver moto etcd; do
    if alive "$name"; then
      kill -- -"$(cat "$run/$name.pid")" 2>/dev/null || kill "$(cat "$run/$name.pid")" 2>/dev/null || true
    fi
  done
  for name in operator kube-apiserver moto etcd; do
    [ -f "$run/$name.pid" ] || continue
    local pid; pid=$(cat "$run/$name.pid")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- -"$pid" 2>/dev/null || true
    rm -f "$run/$name.pid"
  done
  rm -rf "$run/etcd" "$run/pki"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  apiserver-stop) apiserver_stop ;;
  apiserver-start) start_apiserver; wait_for 60 apiserver_ready ;;
  *) echo "usage: $0 up|down|apiserver-stop|apiserver-start" >&2; exit 2 ;;
esac
