#!/usr/bin/env bash
# selftest.sh: end-to-end checks of the testbed API server (apiserver.py via kube.sh) with
# Debian's kubectl and curl (service accounts and RBAC: selftest-rbac.sh, sourced). Exits non-zero if
# any check fails.
# Usage: testbed/kube/selftest.sh [DIR]   (default: a fresh mktemp dir under /tmp, removed on success;
#        KEEP=1 keeps it)
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
PY=/usr/bin/python3
KUBECTL=/usr/bin/kubectl
D=${1:-$(mktemp -d /tmp/kst.XXXXXX)}
mkdir -p -- "$D"
D=$(cd -- "$D" && pwd -P)
PASS=0
FAIL=0
BG=()  # background pids started here

ok() { echo "ok   - $*"; PASS=$((PASS + 1)); }
bad() { echo "FAIL - $*"; FAIL=$((FAIL + 1)); }

cleanup() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
    "$HERE/kube.sh" stop "$D" >/dev/null 2>&1
    if ((FAIL == 0)) && [[ -z ${KEEP:-} && -z ${1:-} ]]; then rm -rf -- "$D"; else echo "kept $D" >&2; fi
}
trap 'cleanup' EXIT

k() { "$KUBECTL" --kubeconfig "$D/kubeconfig" --cache-dir "$D/kubecache" "$@"; }
api() { curl -sS --max-time 20 --cacert "$KUBE_CA" -H "Authorization: Bearer $TOKEN" "$@"; }
# code METHOD PATH [curl args...]: prints the HTTP status, body in $D/body
code() {
    local m=$1 p=$2
    shift 2
    api -o "$D/body" -w '%{http_code}' -X "$m" "$@" "$KUBE_URL$p"
}
# jp EXPR: evaluates a Python expression on the JSON document on stdin (bound to o)
jp() { "$PY" -c 'import json,sys; o=json.load(sys.stdin); r=eval(sys.argv[1]); print(r if isinstance(r,str) else json.dumps(r))' "$1"; }
body() { jp "$1" <"$D/body"; }
# types FILE: the event types of a watch stream, space-separated
types() { "$PY" -c 'import json,sys; print(" ".join(json.loads(l)["type"] for l in open(sys.argv[1]) if l.strip()))' "$1"; }

# expect DESC ACTUAL EXPECTED
expect() {
    if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1: got [$2], want [$3]"; fi
}
# expect_match DESC TEXT REGEX
expect_match() {
    if [[ $2 =~ $3 ]]; then ok "$1"; else bad "$1: [$2] does not match /$3/"; fi
}
# wait_for DESC CMD...: until CMD succeeds, up to 10 s
wait_for() {
    local desc=$1 i
    shift
    for ((i = 0; i < 100; i++)); do
        if "$@" >/dev/null 2>&1; then ok "$desc"; return 0; fi
        sleep 0.1
    done
    bad "$desc (timed out)"
    return 1
}
# wait_eq DESC EXPECTED SNIPPET: until the output of the shell snippet (re-evaluated on every
# try) equals EXPECTED, up to 10 s
wait_eq() {
    local desc=$1 want=$2 snippet=$3 got="" i
    for ((i = 0; i < 100; i++)); do
        got=$(eval "$snippet" 2>&1)
        if [[ $got == "$want" ]]; then ok "$desc"; return 0; fi
        sleep 0.1
    done
    bad "$desc (timed out): got [$got], want [$want]"
    return 1
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
mkdir -p "$D/crds" "$D/y"
cat >"$D/crds/vpc.json" <<'EOF'
{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
 "metadata": {"name": "vpcs.kubeovn.io"},
 "spec": {"group": "kubeovn.io", "scope": "Cluster",
  "names": {"plural": "vpcs", "singular": "vpc", "kind": "Vpc", "listKind": "VpcList", "shortNames": ["vpc"]},
  "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
   "additionalPrinterColumns": [
     {"name": "EnableExternal", "type": "boolean", "jsonPath": ".spec.enableExternal"},
     {"name": "Standby", "type": "boolean", "jsonPath": ".status.standby"},
     {"name": "Subnets", "type": "string", "jsonPath": ".status.subnets"},
     {"name": "ExtraExternalSubnets", "type": "string", "jsonPath": ".spec.extraExternalSubnets", "priority": 1},
     {"name": "Namespaces", "type": "string", "jsonPath": ".spec.namespaces"}],
   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
     "spec": {"type": "object", "properties": {
        "namespaces": {"type": "array", "items": {"type": "string"}},
        "enableExternal": {"type": "boolean"},
        "extraExternalSubnets": {"type": "array", "items": {"type": "string"}},
        "staticRoutes": {"type": "array", "items": {"type": "object", "properties": {
            "cidr": {"type": "string"}, "nextHopIP": {"type": "string"},
            "policy": {"type": "string", "enum": ["policySrc", "policyDst"]}}}},
        "policyRoutes": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
     "status": {"type": "object", "properties": {
        "standby": {"type": "boolean"}, "default": {"type": "boolean"},
        "subnets": {"type": "array", "items": {"type": "string"}},
        "conditions": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}}}}]}}
EOF
cat >"$D/crds/veg.json" <<'EOF'
{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
 "metadata": {"name": "vpc-egress-gateways.kubeovn.io"},
 "spec": {"group": "kubeovn.io", "scope": "Namespaced",
  "names": {"plural": "vpc-egress-gateways", "singular": "vpc-egress-gateway", "kind": "VpcEgressGateway",
            "listKind": "VpcEgressGatewayList", "shortNames": ["vpc-egress-gw", "veg"]},
  "versions": [{"name": "v1", "served": true, "storage": true,
   "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.labelSelector"}},
   "additionalPrinterColumns": [
     {"name": "VPC", "type": "string", "jsonPath": ".spec.vpc"},
     {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
     {"name": "BFD Enabled", "type": "boolean", "jsonPath": ".spec.bfd.enabled"},
     {"name": "External Subnet", "type": "string", "jsonPath": ".spec.externalSubnet"},
     {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
     {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
     {"name": "Internal IPs", "type": "string", "jsonPath": ".status.internalIPs", "priority": 1},
     {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
     "spec": {"type": "object", "required": ["externalSubnet"], "properties": {
        "vpc": {"type": "string"}, "replicas": {"type": "integer", "format": "int32", "default": 1, "minimum": 0},
        "prefix": {"type": "string"}, "image": {"type": "string"},
        "internalSubnet": {"type": "string"}, "externalSubnet": {"type": "string"},
        "internalIPs": {"type": "array", "items": {"type": "string"}},
        "externalIPs": {"type": "array", "items": {"type": "string"}},
        "bfd": {"type": "object", "properties": {"enabled": {"type": "boolean", "default": false},
            "minRX": {"type": "integer", "default": 1000}, "minTX": {"type": "integer", "default": 1000},
            "multiplier": {"type": "integer", "default": 3}}},
        "policies": {"type": "array", "items": {"type": "object", "properties": {
            "snat": {"type": "boolean", "default": false},
            "ipBlocks": {"type": "array", "items": {"type": "string"}},
            "subnets": {"type": "array", "items": {"type": "string"}}}}},
        "nodeSelector": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
     "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}}
EOF

echo "# starting apiserver in $D"
"$HERE/kube.sh" start "$D" --crds "$D/crds" --http --bookmark-interval 0.2 --nodes node-1,node-2,node-3 --history 1000 --quiet ||
    { bad "kube.sh start"; exit 1; }
set -a
. "$D/env"
set +a
TOKEN=$(cat "$KUBE_TOKEN_FILE")

# ---- discovery and versions -------------------------------------------------------------------
expect "kubectl version: server v1.32.0" "$(k version -o json | jp "o['serverVersion']['gitVersion']")" v1.32.0
ar=$(k api-resources 2>&1)
expect_match "api-resources lists vpcs" "$ar" "vpcs +vpc +kubeovn.io/v1 +false +Vpc"
expect_match "api-resources lists vpc-egress-gateways" "$ar" "vpc-egress-gateways +vpc-egress-gw,veg +kubeovn.io/v1 +true +VpcEgressGateway"
expect "discovery: veg scale entry is autoscaling/v1 Scale" \
    "$(api "$KUBE_URL/apis/kubeovn.io/v1" | jp "[(r['group'],r['version'],r['kind']) for r in o['resources'] if r['name']=='vpc-egress-gateways/scale'][0]")" \
    '["autoscaling", "v1", "Scale"]'
expect "discovery: deployments/scale and vpcs/status" \
    "$(api "$KUBE_URL/apis/apps/v1" | jp "'deployments/scale' in [r['name'] for r in o['resources']]") $(api "$KUBE_URL/apis/kubeovn.io/v1" | jp "'vpcs/status' in [r['name'] for r in o['resources']]")" "true true"
expect "/openapi/v2: 200, empty, octet-stream" \
    "$(api -o /dev/null -w '%{http_code} %{size_download} %{content_type}' "$KUBE_URL/openapi/v2")" "200 0 application/octet-stream"
expect "/openapi/v3: 404" "$(code GET /openapi/v3)" 404
expect "no token: 401 Unauthorized Status" \
    "$(curl -sS --cacert "$KUBE_CA" -o "$D/body" -w '%{http_code}' "$KUBE_URL/api/v1/namespaces") $(body "o['reason'],o['code']")" '401 ["Unauthorized", 401]'
expect "plain http listener (debugging) needs no token" "$(curl -sS -o /dev/null -w '%{http_code}' "$KUBE_HTTP_URL/api/v1/namespaces")" 200
expect "wrong token: 401" "$(curl -sS --cacert "$KUBE_CA" -H 'Authorization: Bearer nope' -o /dev/null -w '%{http_code}' "$KUBE_URL/apis")" 401
expect "namespaces default and kube-system exist" "$(k get ns default kube-system -o name | tr '\n' ' ')" "namespace/default namespace/kube-system "
expect "nodes are served with labels" "$(k get nodes -l kubernetes.io/os=linux -o name | wc -l)" 3

# ---- kubectl apply / get / watch / delete on a cluster-scoped CR ------------------------------
cat >"$D/y/vpc1.yaml" <<'EOF'
apiVersion: kubeovn.io/v1
kind: Vpc
metadata:
  name: vpc1
  labels: {tier: gold, zone: a}
spec:
  namespaces: [ns1, ns2]
  enableExternal: true
  staticRoutes:
  - {cidr: 0.0.0.0/0, nextHopIP: 10.0.1.254, policy: policyDst}
EOF
sed 's/vpc1/vpc2/; s/tier: gold/tier: silver/; s/zone: a/zone: b/' "$D/y/vpc1.yaml" >"$D/y/vpc2.yaml"
expect "apply --validate=false creates vpc1" "$(k apply --validate=false -f "$D/y/vpc1.yaml" 2>&1)" "vpc.kubeovn.io/vpc1 created"
expect "apply (strict validation) creates vpc2" "$(k apply -f "$D/y/vpc2.yaml" 2>&1)" "vpc.kubeovn.io/vpc2 created"
printf 'apiVersion: kubeovn.io/v1\nkind: Vpc\nmetadata: {name: bad1}\nspec: {bogus: 1}\n' >"$D/y/bad1.yaml"
expect_match "strict validation refuses an unknown field" "$(k apply -f "$D/y/bad1.yaml" 2>&1)" 'unknown field "spec.bogus"'
printf 'apiVersion: kubeovn.io/v1\nkind: Vpc\nmetadata: {name: bad2}\nspec: {enableExternal: "yes"}\n' >"$D/y/bad2.yaml"
expect_match "schema type error is 422 Invalid" "$(k apply --validate=false -f "$D/y/bad2.yaml" 2>&1)" 'is invalid: spec.enableExternal'
out=$(k get vpc 2>&1)
expect_match "get vpc: printer columns" "$out" "NAME +ENABLEEXTERNAL +STANDBY +SUBNETS +NAMESPACES"
expect_match "get vpc: row with JSON-encoded array" "$out" 'vpc1 +true +\["ns1","ns2"\]'
expect_match "get vpc -o wide: priority-1 column" "$(k get vpc -o wide 2>&1)" "EXTRAEXTERNALSUBNETS"
out=$(k get vpc vpc1 -o yaml)
expect_match "get -o yaml keeps last-applied-configuration" "$out" "kubectl.kubernetes.io/last-applied-configuration"
expect_match "get -o yaml: generation 1, uid, resourceVersion" "$out" "generation: 1.*resourceVersion: \"[0-9]+\".*uid: [0-9a-f-]{36}"
sed -i 's/\[ns1, ns2\]/[ns1, ns3]/' "$D/y/vpc1.yaml"
expect "apply a change: configured (merge patch)" "$(k apply -f "$D/y/vpc1.yaml" 2>&1)" "vpc.kubeovn.io/vpc1 configured"
expect "spec changed, generation 2" "$(k get vpc vpc1 -o jsonpath='{.spec.namespaces} {.metadata.generation}')" '["ns1","ns3"] 2'
expect "apply again: unchanged" "$(k apply -f "$D/y/vpc1.yaml" 2>&1)" "vpc.kubeovn.io/vpc1 unchanged"
printf 'apiVersion: kubeovn.io/v1\nkind: Vpc\nmetadata: {name: vpc3}\nspec: {namespaces: [a], enableExternal: true}\n' >"$D/y/vpc3.yaml"
expect "apply --server-side creates" "$(k apply --server-side -f "$D/y/vpc3.yaml" 2>&1)" "vpc.kubeovn.io/vpc3 serverside-applied"
printf 'apiVersion: kubeovn.io/v1\nkind: Vpc\nmetadata: {name: vpc3}\nspec: {namespaces: [a, b]}\n' >"$D/y/vpc3.yaml"
expect "apply --server-side updates" "$(k apply --server-side -f "$D/y/vpc3.yaml" 2>&1)" "vpc.kubeovn.io/vpc3 serverside-applied"
expect "server-side apply dropped the field it no longer applies" "$(k get vpc vpc3 -o jsonpath='{.spec}')" '{"namespaces":["a","b"]}'

"$KUBECTL" --kubeconfig "$D/kubeconfig" --cache-dir "$D/kubecache" get vpc -w >"$D/watch.out" 2>&1 &
BG+=($!)
wait_for "get -w printed the initial list" grep -q '^vpc3 ' "$D/watch.out"
k patch vpc vpc2 --type=merge -p '{"spec":{"enableExternal":false}}' >/dev/null
wait_for "get -w received the modification" grep -qE '^vpc2 +false' "$D/watch.out"
kill "${BG[-1]}" 2>/dev/null

expect_match "delete vpc" "$(k delete vpc vpc3 2>&1)" 'vpc.kubeovn.io "vpc3" deleted'
expect_match "deleted vpc is NotFound" "$(k get vpc vpc3 2>&1)" 'NotFound.*vpcs.kubeovn.io "vpc3" not found'

# ---- CRD created through the API -------------------------------------------------------------
cat >"$D/y/crd-eip.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: iptables-eips.kubeovn.io}
spec:
  group: kubeovn.io
  scope: Cluster
  names: {plural: iptables-eips, singular: iptables-eip, kind: IptablesEIP, shortNames: [eip]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: IP, type: string, jsonPath: .status.ip}
    - {name: NatGw, type: string, jsonPath: .spec.natGwDp}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
EOF
expect "kubectl apply of a CRD" "$(k apply -f "$D/y/crd-eip.yaml" 2>&1)" "customresourcedefinition.apiextensions.k8s.io/iptables-eips.kubeovn.io created"
expect "CRD is Established" "$(k wait --for condition=established --timeout=5s crd/iptables-eips.kubeovn.io 2>&1)" "customresourcedefinition.apiextensions.k8s.io/iptables-eips.kubeovn.io condition met"
printf 'apiVersion: kubeovn.io/v1\nkind: IptablesEIP\nmetadata: {name: eip1}\nspec: {natGwDp: gw1}\n' >"$D/y/eip1.yaml"
expect "the new kind is served at once" "$(k apply -f "$D/y/eip1.yaml" 2>&1)" "iptableseip.kubeovn.io/eip1 created"
expect "get eip: printer columns of the new CRD (a missing value is an empty cell)" "$(k get eip 2>&1 | tr -s ' ')" "NAME IP NATGW
eip1 gw1"

# ---- Deployments, ReplicaSets, Pods ------------------------------------------------------------
running_pods() { # running_pods SELECTOR -> count of Running pods with an IP and a node
    k get pods -l "$1" -o json | jp "sum(1 for p in o['items'] if p['status'].get('phase')=='Running' and p['status'].get('podIP') and p['spec'].get('nodeName') and not p['metadata'].get('deletionTimestamp'))"
}
pod_count() { k get pods -l "$1" -o name | wc -l; }
pod_images() { k get pods -l "$1" -o json | jp "' '.join(sorted({p['spec']['containers'][0]['image'] for p in o['items']}))"; }
nwatches() { api "$KUBE_URL/testbed/watches" | jp "len(o['watches'])"; }
expect "kubectl create deployment (protobuf body)" "$(k create deployment web --image=nginx:1.25 --replicas=2 2>&1)" "deployment.apps/web created"
wait_eq "2 web pods Running with IP and node" 2 'running_pods app=web'
expect_match "get pods shows Running pods" "$(k get pods -l app=web 2>&1)" "web-[a-z0-9]+-[a-z0-9]{5} +1/1 +Running"
expect "pods are owned by a ReplicaSet owned by the Deployment" \
    "$(k get rs -l app=web -o jsonpath='{.items[0].metadata.ownerReferences[0].kind}/{.items[0].metadata.ownerReferences[0].name}')" "Deployment/web"
expect_match "pod names are <deploy>-<hash>-<5>, labels carry pod-template-hash" \
    "$(k get pods -l app=web -o jsonpath='{.items[0].metadata.name} {.items[0].metadata.labels.pod-template-hash}')" "^web-([a-z0-9]+)-[a-z0-9]{5} [a-z0-9]+$"
expect "kubectl scale deployment --replicas=3" "$(k scale deployment web --replicas=3 2>&1)" "deployment.apps/web scaled"
wait_eq "3 web pods Running" 3 'running_pods app=web'
wait_eq "deployment status: 3 ready, observedGeneration current" "3/3/3 2=2" \
    "k get deploy web -o jsonpath='{.status.readyReplicas}/{.status.availableReplicas}/{.status.updatedReplicas} {.status.observedGeneration}={.metadata.generation}'"
expect "pods spread over the 3 nodes" "$(k get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | wc -l)" 3
expect "kubectl scale --current-replicas (PUT .../scale)" "$(k scale deployment web --current-replicas=3 --replicas=1 2>&1)" "deployment.apps/web scaled"
wait_eq "scaled down to 1 pod" 1 'pod_count app=web'
old_pod=$(k get pods -l app=web -o name)
k set image deployment/web nginx=nginx:1.27 >/dev/null
wait_eq "template change rolls the pod (new image)" "nginx:1.27 1" 'echo "$(pod_images app=web) $(pod_count app=web)"'
expect_match "rolled pod has a new name" "$(k get pods -l app=web -o name)" "^pod/web-"
[[ $(k get pods -l app=web -o name) != "$old_pod" ]] && ok "rolled pod differs from the old one" || bad "rolled pod differs from the old one"
expect_match "rollout status" "$(k rollout status deployment/web --timeout=10s 2>&1)" 'successfully rolled out'

cat >"$D/y/gw.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gw
  labels: {app: gw}
spec:
  replicas: 1
  selector:
    matchLabels: {app: gw}
  template:
    metadata:
      labels: {app: gw, role: gateway}
      annotations: {ovn.kubernetes.io/ip_address: 10.16.99.99}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-2}
      containers:
      - name: gw
        image: testbed/gateway:1
        ports: [{containerPort: 8080}]
EOF
expect "apply a Deployment YAML" "$(k apply -f "$D/y/gw.yaml" 2>&1)" "deployment.apps/gw created"
wait_eq "gw pod Running" 1 'running_pods app=gw'
expect "gw pod honours nodeSelector and the ip_address annotation" \
    "$(k get pods -l app=gw -o jsonpath='{.items[0].spec.nodeName} {.items[0].status.podIP} {.items[0].metadata.labels.role}')" "node-2 10.16.99.99 gateway"
sed -i 's/image: testbed\/gateway:1/image: testbed\/gateway:2/' "$D/y/gw.yaml"
expect "apply the Deployment again (strategic merge patch)" "$(k apply -f "$D/y/gw.yaml" 2>&1)" "deployment.apps/gw configured"
wait_eq "gw pod rolled to image 2" "testbed/gateway:2 1" 'echo "$(pod_images app=gw) $(pod_count app=gw)"'
expect "containers list merged by name (still one container)" "$(k get deploy gw -o jsonpath='{.spec.template.spec.containers[*].name}')" "gw"
k create deployment nowhere --image=x >/dev/null
k patch deployment nowhere --type=merge -p '{"spec":{"template":{"spec":{"nodeSelector":{"disk":"ssd"}}}}}' >/dev/null
wait_eq "unschedulable pod stays Pending with PodScheduled=False" "Pending/Unschedulable" \
    "k get pods -l app=nowhere -o json | jp \"' '.join(sorted({p['status']['phase']+'/'+p['status']['conditions'][0].get('reason','') for p in o['items']}))\""
k label node node-3 disk=ssd >/dev/null
wait_eq "labelling a node lets it schedule there" "node-3 Running" "k get pods -l app=nowhere -o jsonpath='{.items[0].spec.nodeName} {.items[0].status.phase}'"
expect_match "delete deployment" "$(k delete deployment web 2>&1)" 'deployment.apps "web" deleted'
wait_eq "deleting the Deployment removed its ReplicaSets and Pods" "0 0" 'echo "$(pod_count app=web) $(k get rs -l app=web -o name | wc -l)"'

# ---- StatefulSets: the real server's defaults; pods <name>-<i>, recreated under their names ----
cat >"$D/y/sts.yaml" <<'EOF'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: testbed/db:1}]}
EOF
expect "apply a StatefulSet YAML" "$(k apply -f "$D/y/sts.yaml" 2>&1)" "statefulset.apps/db created"
expect "StatefulSet defaults: replicas, podManagementPolicy, updateStrategy, container pull policy" \
    "$(k get sts db -o jsonpath='{.spec.replicas} {.spec.podManagementPolicy} {.spec.updateStrategy.type} {.spec.template.spec.containers[0].imagePullPolicy}')" \
    "1 OrderedReady RollingUpdate IfNotPresent"
wait_eq "StatefulSet pod db-0 Running" "db-0 Running" "k get pods -l app=db -o jsonpath='{.items[*].metadata.name} {.items[*].status.phase}'"
expect "kubectl scale statefulset" "$(k scale sts db --replicas=3 2>&1)" "statefulset.apps/db scaled"
wait_eq "scaled to 3: db-0 db-1 db-2, all Running, status.readyReplicas 3" "db-0 db-1 db-2 Running Running Running 3" \
    "echo \"\$(k get pods -l app=db -o jsonpath='{.items[*].metadata.name} {.items[*].status.phase}') \$(k get sts db -o jsonpath='{.status.readyReplicas}')\""
uid0=$(k get pod db-1 -o jsonpath='{.metadata.uid}')
k delete pod db-1 >/dev/null
wait_eq "a deleted StatefulSet pod is made again under its name (new uid)" "db-1 new" \
    "k get pod db-1 -o json | jp \"o['metadata']['name']+' '+('new' if o['metadata']['uid']!='$uid0' else 'same')\""
expect "its pods carry the pod-name label and the set as controller" \
    "$(k get pod db-1 -o jsonpath='{.metadata.labels.statefulset\.kubernetes\.io/pod-name} {.metadata.ownerReferences[0].kind} {.spec.hostname} {.spec.subdomain}')" "db-1 StatefulSet db-1 db"
k scale sts db --replicas=1 >/dev/null
wait_eq "scaled down to 1: the highest ordinals go, db-0 stays" "db-0" "k get pods -l app=db -o jsonpath='{.items[*].metadata.name}'"
expect_match "delete statefulset" "$(k delete sts db 2>&1)" 'statefulset.apps "db" deleted'
wait_eq "deleting the StatefulSet removed its pods" "0" 'pod_count app=db'

# ---- the scale subresource of a CR -------------------------------------------------------------
printf 'apiVersion: kubeovn.io/v1\nkind: VpcEgressGateway\nmetadata: {name: g, namespace: default}\nspec: {vpc: vpc1, externalSubnet: ext1}\n' >"$D/y/veg.yaml"
expect "apply a namespaced VpcEgressGateway" "$(k apply -f "$D/y/veg.yaml" 2>&1)" "vpcegressgateway.kubeovn.io/g created"
expect "schema defaults applied (replicas 1, bfd.multiplier absent without bfd)" "$(k get veg g -o jsonpath='{.spec.replicas} {.spec.bfd}')" "1 "
expect "kubectl scale veg g --replicas=2" "$(k scale veg g --replicas=2 2>&1)" "vpcegressgateway.kubeovn.io/g scaled"
expect "spec.replicas 2, generation 2" "$(k get veg g -o jsonpath='{.spec.replicas} {.metadata.generation}')" "2 2"
expect "GET .../scale is an autoscaling/v1 Scale" \
    "$(api "$KUBE_URL/apis/kubeovn.io/v1/namespaces/default/vpc-egress-gateways/g/scale" | jp "o['apiVersion']+' '+o['kind']+' '+str(o['spec']['replicas'])")" "autoscaling/v1 Scale 2"
expect_match "get veg: integer printer column" "$(k get veg 2>&1)" 'g +vpc1 +2 +ext1 +[0-9]+s'
expect_match "namespaced create in a missing namespace: 404 namespaces not found" \
    "$(code POST /apis/kubeovn.io/v1/namespaces/nope/vpc-egress-gateways -H 'Content-Type: application/json' -d '{"metadata":{"name":"x"},"spec":{"externalSubnet":"e"}}') $(body "o['message']")" '^404 namespaces "nope" not found'

# ---- list: pagination, label and field selectors ---------------------------------------------
for i in 1 2 3 4 5; do
    lbl="idx=$i"
    case $i in 1 | 2) lbl+=",color=red" ;; 3) lbl+=",color=blue" ;; 4) lbl+=",color=green,shape=round" ;; esac
    k create configmap "cm$i" --from-literal=k=v >/dev/null
    k label configmap "cm$i" $(tr ',' ' ' <<<"$lbl") >/dev/null
done
L=/api/v1/namespaces/default/configmaps
code GET "$L?limit=2&labelSelector=idx" >/dev/null
p1=$(body "[i['metadata']['name'] for i in o['items']]")
c1=$(body "o['metadata'].get('continue','')")
rv1=$(body "o['metadata']['resourceVersion']")
expect "limit=2 with a selector: two items, no remainingItemCount" "$p1 $(body "o['metadata'].get('remainingItemCount')")" '["cm1", "cm2"] null'
k create configmap cm35 --from-literal=k=v >/dev/null   # created after the first page: not in this list
k label configmap cm35 idx=35 >/dev/null
code GET "$L?limit=2&labelSelector=idx&continue=$c1" >/dev/null
p2=$(body "[i['metadata']['name'] for i in o['items']]")
c2=$(body "o['metadata'].get('continue','')")
expect "continue: next page, same resourceVersion" "$p2 $(body "o['metadata']['resourceVersion']")" "[\"cm3\", \"cm4\"] $rv1"
code GET "$L?limit=2&labelSelector=idx&continue=$c2" >/dev/null
expect "last page has no continue" "$(body "[i['metadata']['name'] for i in o['items']]") $(body "o['metadata'].get('continue','')")" '["cm5"] '
code GET "$L?limit=3" >/dev/null
expect "remainingItemCount without selectors" "$(body "o['metadata'].get('remainingItemCount')")" 3
expect "limit is ignored with resourceVersion=0 (like the watch cache)" "$(code GET "$L?limit=1&resourceVersion=0" >/dev/null; body "len(o['items'])")" 6
sel() { code GET "$L?labelSelector=$(printf %s "$1" | jp_urlencode)" >/dev/null; body "','.join(sorted(i['metadata']['name'] for i in o['items']))"; }
jp_urlencode() { "$PY" -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))'; }
expect "labelSelector color=red" "$(sel 'color=red')" "cm1,cm2"
expect "labelSelector color==blue" "$(sel 'color==blue')" "cm3"
expect "labelSelector color!=red (includes unlabelled)" "$(sel 'idx,color!=red')" "cm3,cm35,cm4,cm5"
expect "labelSelector in" "$(sel 'color in (red, green)')" "cm1,cm2,cm4"
expect "labelSelector notin" "$(sel 'idx,color notin (red,green)')" "cm3,cm35,cm5"
expect "labelSelector exists" "$(sel 'shape')" "cm4"
expect "labelSelector !key" "$(sel 'idx,!color')" "cm35,cm5"
expect "bad labelSelector: 400" "$(code GET "$L?labelSelector=a%20b%20c")" 400
expect "fieldSelector metadata.name" "$(code GET "$L?fieldSelector=metadata.name%3Dcm3" >/dev/null; body "[i['metadata']['name'] for i in o['items']]")" '["cm3"]'
expect "fieldSelector metadata.namespace over all namespaces" \
    "$(code GET "/api/v1/configmaps?fieldSelector=metadata.namespace%21%3Ddefault" >/dev/null; body "len(o['items'])")" 0
expect "fieldSelector on an unsupported CR field: 400" "$(code GET "/apis/kubeovn.io/v1/vpcs?fieldSelector=spec.enableExternal%3Dtrue")" 400
expect "kubectl get -l" "$(k get cm -l 'color in (red)' -o name | tr '\n' ' ')" "configmap/cm1 configmap/cm2 "

# ---- watch: replay, bookmarks, timeout, 410 after compaction, cut connections ------------------
V=/apis/kubeovn.io/v1/vpcs
rv0=$(api "$KUBE_URL$V" | jp "o['metadata']['resourceVersion']")
k label vpc vpc1 replay=1 >/dev/null
k label vpc vpc2 replay=2 >/dev/null
api -N "$KUBE_URL$V?watch=1&resourceVersion=$rv0&timeoutSeconds=1" >"$D/w1" 2>&1
expect "watch from a resourceVersion replays the history" \
    "$(jp "o['type']+':'+o['object']['metadata']['name']" <<<"$(sed -n 1p "$D/w1")") $(jp "o['type']+':'+o['object']['metadata']['name']" <<<"$(sed -n 2p "$D/w1")")" "MODIFIED:vpc1 MODIFIED:vpc2"
expect "timeoutSeconds ends the stream" "$(wc -l <"$D/w1")" 2
api -N "$KUBE_URL$V?watch=true&resourceVersion=$rv0&allowWatchBookmarks=true&timeoutSeconds=1" >"$D/w2" 2>&1
expect_match "allowWatchBookmarks: BOOKMARK events" "$(grep -c '"type":"BOOKMARK"' "$D/w2")" '^[1-9]'
expect "bookmark carries kind, apiVersion and the resourceVersion" \
    "$(grep '"BOOKMARK"' "$D/w2" | tail -1 | jp "o['object']['kind']+' '+o['object']['apiVersion']+' '+str(o['object']['metadata']['resourceVersion'].isdigit())")" "Vpc kubeovn.io/v1 True"
api -N "$KUBE_URL$V?watch=1&resourceVersion=$rv0&labelSelector=replay%3D2&timeoutSeconds=1" >"$D/w3" 2>&1
expect "watch with labelSelector filters (object entering the selector is ADDED)" "$(jp "o['type']+':'+o['object']['metadata']['name']" <"$D/w3")" "ADDED:vpc2"
expect "POST /testbed/compact" "$(api -X POST "$KUBE_URL/testbed/compact" | jp "o['compactedResourceVersion'].isdigit()")" "true"
expect "watch from a stale resourceVersion: 410 Expired Status" \
    "$(code GET "$V?watch=1&resourceVersion=$rv0") $(body "o['kind']+' '+o['reason']+' '+str(o['code'])")" "410 Status Expired 410"
api -X POST -H 'Content-Type: application/json' -d '{"expiredMode":"event"}' "$KUBE_URL/testbed/config" >/dev/null
api -N "$KUBE_URL$V?watch=1&resourceVersion=$rv0" >"$D/w4" 2>&1
expect "expiredMode=event: ERROR event with a 410 Expired Status" "$(jp "o['type']+' '+o['object']['reason']+' '+str(o['object']['code'])" <"$D/w4")" "ERROR Expired 410"
api -X POST -H 'Content-Type: application/json' -d '{"expiredMode":"status"}' "$KUBE_URL/testbed/config" >/dev/null
expect "continue token older than the compaction: 410" "$(code GET "$L?limit=2&continue=$c1")" 410
api -N "$KUBE_URL$V?watch=1" >"$D/w5" 2>&1 &
BG+=($!)
wait_eq "watch registered" 1 nwatches
wait_eq "watch without resourceVersion starts with ADDED for every object" 2 "grep -c '\"ADDED\"' \"\$D/w5\""
expect "POST /testbed/cut-watches" "$(api -X POST "$KUBE_URL/testbed/cut-watches" | jp "o['cut']")" 1
wait_for "the cut watch connection is closed" gone "${BG[-1]}"
wait_eq "no watch left" 0 nwatches

api -N "$KUBE_URL$V?watch=1&resourceVersion=$(api "$KUBE_URL$V" | jp "o['metadata']['resourceVersion']")" >"$D/w6" 2>&1 &
BG+=($!)
wait_eq "watch registered" 1 nwatches
api -X POST "$KUBE_URL/testbed/compact" >/dev/null
k label vpc vpc1 after-compact=1 >/dev/null
wait_for "an open watch keeps receiving events across a compaction" grep -q after-compact "$D/w6"
expect "POST /testbed/expire-watches" "$(api -X POST "$KUBE_URL/testbed/expire-watches" | jp "o['expired']")" 1
wait_for "expired watch ends" gone "${BG[-1]}"
expect "open watch got MODIFIED then ERROR 410 Expired" "$(types "$D/w6") $(tail -1 "$D/w6" | jp "o['object']['reason']+' '+str(o['object']['code'])")" "MODIFIED ERROR Expired 410"
expect "watch from a future resourceVersion: 504 Too large resource version" \
    "$(code GET "$V?watch=1&resourceVersion=99999999") $(body "o['details']['causes'][0]['reason']")" "504 ResourceVersionTooLarge"
expect "POST /testbed/faults" "$(api -X POST -H 'Content-Type: application/json' -d '{"method":"GET","pathPrefix":"/apis/kubeovn.io/","code":429,"retryAfter":1,"count":2}' "$KUBE_URL/testbed/faults" | jp "len(o['faults'])")" 1
expect "injected faults: two 429 with Retry-After, then normal" \
    "$(code GET "$V") $(api -o /dev/null -D - "$KUBE_URL$V" | grep -ci '^retry-after: 1') $(code GET "$V")" "429 1 200"

# ---- Table output ------------------------------------------------------------------------------
TA='Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json'
expect "Table: columns Name + printer columns" \
    "$(api -H "$TA" "$KUBE_URL$V" | jp "[c['name'] for c in o['columnDefinitions']]")" '["Name", "EnableExternal", "Standby", "Subnets", "ExtraExternalSubnets", "Namespaces"]'
expect "Table: rows carry PartialObjectMetadata, booleans keep their type" \
    "$(api -H "$TA" "$KUBE_URL$V/vpc1" | jp "[o['rows'][0]['object']['kind'], o['rows'][0]['cells'][:2], o['columnDefinitions'][4]['priority']]")" '["PartialObjectMetadata", ["vpc1", true], 1]'

# ---- finalizers --------------------------------------------------------------------------------
api -X POST -H 'Content-Type: application/json' "$KUBE_URL$V" \
    -d '{"apiVersion":"kubeovn.io/v1","kind":"Vpc","metadata":{"name":"fin1","finalizers":["example.com/hold"]},"spec":{}}' >/dev/null
rvf=$(api "$KUBE_URL$V/fin1" | jp "o['metadata']['resourceVersion']")
api -N "$KUBE_URL$V?watch=1&resourceVersion=$rvf&fieldSelector=metadata.name%3Dfin1&timeoutSeconds=3" >"$D/wf" 2>&1 &
BG+=($!)
expect "DELETE with a finalizer: 200, object kept with deletionTimestamp" \
    "$(code DELETE "$V/fin1") $(api "$KUBE_URL$V/fin1" | jp "bool(o['metadata'].get('deletionTimestamp'))")" "200 true"
expect "deleting object refuses new finalizers" \
    "$(code PATCH "$V/fin1" -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"finalizers":["example.com/hold","x.io/y"]}}')" 422
expect "PATCH removing the finalizer: 200" "$(code PATCH "$V/fin1" -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"finalizers":null}}')" 200
expect "object is gone" "$(code GET "$V/fin1")" 404
wait "${BG[-1]}"
expect "watch saw MODIFIED (deletionTimestamp) then DELETED" "$(types "$D/wf")" "MODIFIED DELETED"

# ---- ownerReferences: cascading delete -----------------------------------------------------------
mkowned() { # mkowned NAME OWNER_NAME OWNER_UID
    api -X POST -H 'Content-Type: application/json' "$KUBE_URL$L" -d "{\"metadata\":{\"name\":\"$1\",\"ownerReferences\":[{\"apiVersion\":\"kubeovn.io/v1\",\"kind\":\"Vpc\",\"name\":\"$2\",\"uid\":\"$3\"}]},\"data\":{}}" >/dev/null
}
for v in own1 own2 own3; do
    api -X POST -H 'Content-Type: application/json' "$KUBE_URL$V" -d "{\"metadata\":{\"name\":\"$v\"},\"spec\":{}}" >/dev/null
done
mkowned dep1 own1 "$(api "$KUBE_URL$V/own1" | jp "o['metadata']['uid']")"
mkowned dep2 own2 "$(api "$KUBE_URL$V/own2" | jp "o['metadata']['uid']")"
mkowned dep3 own3 "$(api "$KUBE_URL$V/own3" | jp "o['metadata']['uid']")"
k delete vpc own1 >/dev/null
wait_eq "background cascade: dependent of a deleted owner is deleted" 404 'code GET "$L/dep1"'
k delete vpc own2 --cascade=orphan >/dev/null
sleep 0.3
expect "orphan: dependent kept, ownerReference removed" "$(code GET "$L/dep2") $(body "o['metadata'].get('ownerReferences')")" "200 null"
k delete vpc own3 --cascade=foreground >/dev/null
wait_eq "foreground: owner gone after its dependent" "404 404" 'echo "$(code GET "$L/dep3") $(code GET "$V/own3")"'

# ---- status subresource ------------------------------------------------------------------------
cur=$(api "$KUBE_URL$V/vpc2")
gen=$(jp "o['metadata']['generation']" <<<"$cur")
new=$(jp "dict(o, status={'standby': True, 'subnets': ['s1']}, spec=dict(o['spec'], namespaces=['changed']))" <<<"$cur")
expect "PUT /status: 200" "$(code PUT "$V/vpc2/status" -H 'Content-Type: application/json' -d "$new")" 200
expect "PUT /status changed the status only; generation unchanged" \
    "$(api "$KUBE_URL$V/vpc2" | jp "[o['status'], o['spec']['namespaces'], o['metadata']['generation']]")" "[{\"standby\": true, \"subnets\": [\"s1\"]}, [\"ns1\", \"ns2\"], $gen]"
expect_match "get vpc shows the status columns" "$(k get vpc vpc2 --no-headers)" 'vpc2 +false +true +\["s1"\]'
cur=$(api "$KUBE_URL$V/vpc2")
new=$(jp "dict(o, status={'standby': False}, spec=dict(o['spec'], namespaces=['n9']))" <<<"$cur")
code PUT "$V/vpc2" -H 'Content-Type: application/json' -d "$new" >/dev/null
expect "PUT main resource ignores status, spec change bumps generation" \
    "$(api "$KUBE_URL$V/vpc2" | jp "[o['status']['standby'], o['spec']['namespaces'], o['metadata']['generation']]")" "[true, [\"n9\"], $((gen + 1))]"
expect "merge-patch on /status" \
    "$(code PATCH "$V/vpc2/status" -H 'Content-Type: application/merge-patch+json' -d '{"status":{"subnets":null,"default":true}}' >/dev/null; body "o['status']")" '{"standby": true, "default": true}'
expect "PUT with a stale resourceVersion: 409 Conflict" \
    "$(code PUT "$V/vpc2" -H 'Content-Type: application/json' -d "$new") $(body "o['reason']")" "409 Conflict"
expect "POST of an existing name: 409 AlreadyExists" \
    "$(code POST "$V" -H 'Content-Type: application/json' -d '{"metadata":{"name":"vpc2"}}') $(body "o['reason']")" "409 AlreadyExists"
expect "json-patch" \
    "$(code PATCH "$V/vpc2" -H 'Content-Type: application/json-patch+json' -d '[{"op":"add","path":"/spec/namespaces/-","value":"n10"},{"op":"remove","path":"/metadata/labels/zone"}]' >/dev/null; body "[o['spec']['namespaces'], 'zone' in o['metadata']['labels']]")" '[["n9", "n10"], false]'
expect "strategic merge patch on a CR: 415" "$(code PATCH "$V/vpc2" -H 'Content-Type: application/strategic-merge-patch+json' -d '{}')" 415
expect "generateName" "$(code POST "$L" -H 'Content-Type: application/json' -d '{"metadata":{"generateName":"gen-"}}') $(body "o['metadata']['name'].startswith('gen-') and len(o['metadata']['name'])==9")" "201 true"
expect "immediate DELETE answers a Status Success" "$(code DELETE "$L/cm5") $(body "o['status']+' '+o['details']['kind']+' '+str(len(o['details']['uid']))")" "200 Success configmaps 36"
expect "DELETE of a missing object: 404 NotFound details" "$(code DELETE "$L/cm5") $(body "[o['reason'], o['details']]")" '404 ["NotFound", {"name": "cm5", "kind": "configmaps"}]'
expect "PUT on the collection: 405 MethodNotAllowed" "$(code PUT "$L" -H 'Content-Type: application/json' -d '{}') $(body "o['reason']")" "405 MethodNotAllowed"

# ---- leases and events -------------------------------------------------------------------------
LS=/apis/coordination.k8s.io/v1/namespaces/kube-system/leases
expect "create a Lease" "$(code POST "$LS" -H 'Content-Type: application/json' -d '{"metadata":{"name":"ovn-vpcd"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15}}')" 201
lrv=$(body "o['metadata']['resourceVersion']")
expect "update the Lease with its resourceVersion" "$(code PUT "$LS/ovn-vpcd" -H 'Content-Type: application/json' -d "{\"metadata\":{\"name\":\"ovn-vpcd\",\"resourceVersion\":\"$lrv\"},\"spec\":{\"holderIdentity\":\"b\",\"leaseDurationSeconds\":15}}")" 200
expect "a second writer with the old resourceVersion loses: 409" "$(code PUT "$LS/ovn-vpcd" -H 'Content-Type: application/json' -d "{\"metadata\":{\"name\":\"ovn-vpcd\",\"resourceVersion\":\"$lrv\"},\"spec\":{\"holderIdentity\":\"c\"}}")" 409
expect "events.k8s.io/v1 Event" "$(code POST /apis/events.k8s.io/v1/namespaces/default/events -H 'Content-Type: application/json' -d '{"metadata":{"name":"vpc2.1"},"regarding":{"apiVersion":"kubeovn.io/v1","kind":"Vpc","name":"vpc2"},"note":"bad route","reason":"InvalidRoute","type":"Warning","action":"Reconcile","reportingController":"ovn-vpcd","reportingInstance":"node-1","eventTime":"2026-01-01T00:00:00.000000Z"}')" 201
expect "the same Event through core/v1" "$(api "$KUBE_URL/api/v1/namespaces/default/events/vpc2.1" | jp "[o['involvedObject']['name'], o['message'], o['reportingComponent']]")" '["vpc2", "bad route", "ovn-vpcd"]'
expect_match "kubectl get events" "$(k get events 2>&1)" 'Warning +InvalidRoute +vpc/vpc2 +bad route'

# ---- namespace deletion ------------------------------------------------------------------------
k create namespace tmp1 >/dev/null
k -n tmp1 create configmap x >/dev/null
printf 'apiVersion: kubeovn.io/v1\nkind: VpcEgressGateway\nmetadata: {name: g2, namespace: tmp1}\nspec: {externalSubnet: e}\n' | k apply -f - >/dev/null
expect_match "delete namespace" "$(k delete namespace tmp1 --wait=true --timeout=10s 2>&1)" 'namespace "tmp1" deleted'
expect "namespace contents are gone" "$(code GET /api/v1/namespaces/tmp1/configmaps/x)$(code GET /apis/kubeovn.io/v1/namespaces/tmp1/vpc-egress-gateways/g2)" 404404
expect "default namespace may not be deleted" "$(code DELETE /api/v1/namespaces/default)" 403

# ---- multi-version CRD --------------------------------------------------------------------------
cat >"$D/y/crd-mv.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - {name: v1beta1, served: true, storage: false, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
EOF
k apply -f "$D/y/crd-mv.yaml" >/dev/null
expect "multi-version CRD: preferred version v1" "$(api "$KUBE_URL/apis/example.com" | jp "o['preferredVersion']['version']")" v1
code POST /apis/example.com/v1beta1/namespaces/default/widgets -H 'Content-Type: application/json' -d '{"apiVersion":"example.com/v1beta1","kind":"Widget","metadata":{"name":"w"},"spec":{"a":1}}' >/dev/null
expect "object created through v1beta1 is served by v1 and v1beta1" \
    "$(api "$KUBE_URL/apis/example.com/v1/namespaces/default/widgets/w" | jp "o['apiVersion']") $(api "$KUBE_URL/apis/example.com/v1beta1/namespaces/default/widgets" | jp "o['items'][0]['apiVersion']")" "example.com/v1 example.com/v1beta1"
expect_match "kubectl get pods -A has a NAMESPACE column" "$(k get pods -A 2>&1 | head -1)" "^NAMESPACE +NAME +READY +STATUS"

# ---- CRD deletion removes its objects ----------------------------------------------------------
expect_match "delete a CRD" "$(k delete crd iptables-eips.kubeovn.io --timeout=10s 2>&1)" 'deleted'
expect "its resource is no longer served" "$(code GET /apis/kubeovn.io/v1/iptables-eips)" 404

# ---- Nodes and scheduling: node affinity, pod anti-affinity, taints, -o wide ----------------------
# Two Nodes made with kubectl (pool=sched); every pod of this part is restricted to them.
cat >"$D/y/nodes.yaml" <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: chassis-a
  labels: {pool: sched, zone: z1}
  annotations: {ovn.kubernetes.io/chassis: chassis-a}
---
apiVersion: v1
kind: Node
metadata:
  name: chassis-b
  labels: {pool: sched, zone: z2}
  annotations: {ovn.kubernetes.io/chassis: chassis-b}
EOF
expect "kubectl apply of two Nodes" "$(k apply -f "$D/y/nodes.yaml" 2>&1 | tr '\n' ' ')" "node/chassis-a created node/chassis-b created "
expect "a Node made by kubectl is Ready, with hostname and os labels, its chassis annotation and an InternalIP" \
    "$(k get node chassis-a -o json | jp "' '.join([[c['status'] for c in o['status']['conditions'] if c['type']=='Ready'][0], o['metadata']['labels']['kubernetes.io/hostname'], o['metadata']['labels']['kubernetes.io/os'], o['metadata']['annotations']['ovn.kubernetes.io/chassis'], str(any(a['type']=='InternalIP' and a['address'] for a in o['status']['addresses']))])")" \
    "True chassis-a linux chassis-a True"
expect_match "kubectl get node: Ready" "$(k get node chassis-b 2>&1)" 'chassis-b +Ready'
expect "the --nodes Nodes carry ovn.kubernetes.io/chassis" \
    "$(k get node node-2 -o jsonpath='{.metadata.annotations.ovn\.kubernetes\.io/chassis}')" "node-2"
# spods NAME LABEL_APP SPEC_JSON [NAME LABEL_APP SPEC_JSON]...: bare pods restricted to pool=sched
# (SPEC_JSON merged into spec), made by one kubectl apply
spods() {
    "$PY" -c 'import json,sys; a=sys.argv[1:]; print(json.dumps({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":a[i],"labels":{"app":a[i+1]}},"spec":dict({"nodeSelector":{"pool":"sched"},"containers":[{"name":"c","image":"nginx"}]},**json.loads(a[i+2]))} for i in range(0,len(a),3)]}))' "$@" |
        k apply -f - >/dev/null
}
node_of() { k get pod "$1" -o jsonpath='{.spec.nodeName}'; }
phase_reason() { k get pod "$1" -o json | jp "o['status']['phase']+'/'+([c.get('reason','') for c in o['status'].get('conditions',[]) if c['type']=='PodScheduled']+[''])[0]"; }
expr() { echo "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[$1]}}}}"; }
spods na-in na "$(expr '{"matchExpressions":[{"key":"zone","operator":"In","values":["z2"]}]}')" \
    na-notin na "$(expr '{"matchExpressions":[{"key":"zone","operator":"NotIn","values":["z2"]},{"key":"zone","operator":"Exists"}]}')" \
    na-field na "$(expr '{"matchFields":[{"key":"metadata.name","operator":"In","values":["chassis-a"]}]}')" \
    na-or na "$(expr '{"matchExpressions":[{"key":"zone","operator":"In","values":["nowhere"]}]},{"matchExpressions":[{"key":"zone","operator":"In","values":["z2"]}]}')" \
    na-none na "$(expr '{"matchExpressions":[{"key":"zone","operator":"DoesNotExist"}]}')"
wait_eq "node affinity: In, NotIn+Exists, matchFields, OR of terms" "chassis-b chassis-a chassis-a chassis-b" \
    'echo "$(node_of na-in) $(node_of na-notin) $(node_of na-field) $(node_of na-or)"'
wait_eq "node affinity DoesNotExist on a label both nodes have: Pending, Unschedulable" "Pending/Unschedulable" 'phase_reason na-none'
expect_match "its message counts the nodes that failed" "$(k get pod na-none -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')" \
    '^0/5 nodes are available: 5 node\(s\) didn.t match Pod.s node affinity/selector\.$'
k delete pod na-none --wait=false >/dev/null
# required anti-affinity on kubernetes.io/hostname: two replicas on the two nodes, a third Pending
cat >"$D/y/aa.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: aa}
spec:
  replicas: 2
  selector: {matchLabels: {app: aa}}
  template:
    metadata: {labels: {app: aa}}
    spec:
      nodeSelector: {pool: sched}
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector: {matchExpressions: [{key: app, operator: In, values: [aa]}]}
      containers: [{name: c, image: nginx}]
EOF
k apply -f "$D/y/aa.yaml" >/dev/null
wait_eq "required anti-affinity: 2 replicas on 2 nodes land on both" "chassis-a chassis-b" \
    "k get pods -l app=aa -o json | jp \"' '.join(sorted(p['spec'].get('nodeName','') for p in o['items']))\""
k scale deployment aa --replicas=3 >/dev/null
wait_eq "a third replica stays Pending, Unschedulable (anti-affinity)" "1 Pending/Unschedulable" \
    "k get pods -l app=aa -o json | jp \"str(sum(1 for p in o['items'] if not p['spec'].get('nodeName')))+' '+' '.join(p['status']['phase']+'/'+[c.get('reason','') for c in p['status']['conditions'] if c['type']=='PodScheduled'][0] for p in o['items'] if not p['spec'].get('nodeName'))\""
expect_match "its message names the anti-affinity rules" \
    "$(k get pods -l app=aa -o json | jp "[c['message'] for p in o['items'] if not p['spec'].get('nodeName') for c in p['status']['conditions'] if c['type']=='PodScheduled'][0]")" \
    "2 node\(s\) didn't match pod anti-affinity rules"
# preferred anti-affinity outweighs load: chassis-b holds pa-0 and fewer pods than chassis-a
spods pa-0 pa '{"nodeSelector":{"kubernetes.io/hostname":"chassis-b"}}' \
    fill-a fill '{"nodeSelector":{"kubernetes.io/hostname":"chassis-a"}}' \
    fill-a2 fill '{"nodeSelector":{"kubernetes.io/hostname":"chassis-a"}}' \
    fill-a3 fill '{"nodeSelector":{"kubernetes.io/hostname":"chassis-a"}}'
wait_eq "load: chassis-a holds more pods than chassis-b" "True" \
    "k get pods -o json | jp \"str(sum(p['spec'].get('nodeName')=='chassis-a' for p in o['items']) > sum(p['spec'].get('nodeName')=='chassis-b' for p in o['items']))\""
spods lone-b fill '{}'
wait_eq "without preferences a pod goes to the least-loaded node" "chassis-b" 'node_of lone-b'
wait_eq "load: chassis-a still holds more pods than chassis-b" "True" \
    "k get pods -o json | jp \"str(sum(p['spec'].get('nodeName')=='chassis-a' for p in o['items']) > sum(p['spec'].get('nodeName')=='chassis-b' for p in o['items']))\""
spods pa-1 pa '{"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":{"app":"pa"}}}}]}}}'
wait_eq "preferred anti-affinity: away from the node of the pod it avoids, though that node is less loaded" "chassis-a" 'node_of pa-1'
# taints and tolerations
expect "kubectl taint node" "$(k taint node chassis-b dedicated=gw:NoSchedule 2>&1)" "node/chassis-b tainted"
spods t-none t '{"nodeSelector":{"kubernetes.io/hostname":"chassis-b"}}' \
    t-equal t '{"nodeSelector":{"kubernetes.io/hostname":"chassis-b"},"tolerations":[{"key":"dedicated","operator":"Equal","value":"gw","effect":"NoSchedule"}]}' \
    t-exists t '{"nodeSelector":{"kubernetes.io/hostname":"chassis-b"},"tolerations":[{"operator":"Exists"}]}' \
    t-other t '{"nodeSelector":{"kubernetes.io/hostname":"chassis-b"},"tolerations":[{"key":"dedicated","operator":"Equal","value":"db","effect":"NoSchedule"}]}' \
    t-any t '{}'
wait_eq "a tainted node gets only the tolerating pods (Equal, Exists)" "chassis-b chassis-b" 'echo "$(node_of t-equal) $(node_of t-exists)"'
wait_eq "an untolerated taint (none, or another value) leaves the pod Pending, Unschedulable" "Pending/Unschedulable Pending/Unschedulable" \
    'echo "$(phase_reason t-none) $(phase_reason t-other)"'
expect_match "its message names the taint" "$(k get pod t-none -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')" \
    'untolerated taint \{dedicated: gw\}'
wait_eq "a pod free to choose avoids the tainted node (less loaded)" "chassis-a" 'node_of t-any'
k taint node chassis-b dedicated- >/dev/null
wait_eq "removing the taint lets the pending pod schedule there" "chassis-b Running" 'echo "$(node_of t-none) $(k get pod t-none -o jsonpath="{.status.phase}")"'
# kubectl get pod -o wide: IP and NODE
out=$(k get pod na-in -o wide 2>&1)
expect_match "get pod -o wide: IP and NODE columns" "$(echo "$out" | head -1)" '^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES'
expect_match "get pod -o wide: the pod's IP and node" "$(echo "$out" | tail -1)" '^na-in +1/1 +Running +0 +[0-9]+s +10\.16\.[0-9]+\.[0-9]+ +chassis-b '
api -X POST -H 'Content-Type: application/json' -d '{"kubelet":false}' "$KUBE_URL/testbed/config" >/dev/null
spods kl-0 kl '{}'
wait_eq "kubelet off: a new pod is bound but stays Pending" "Pending" "k get pod kl-0 -o jsonpath='{.status.phase}' | grep -q . && sleep 0.3; k get pod kl-0 -o jsonpath='{.status.phase}'"
api -X POST -H 'Content-Type: application/json' -d '{"kubelet":true}' "$KUBE_URL/testbed/config" >/dev/null
wait_eq "kubelet on again: the pod left Pending runs (unchanged pods are looked at again)" "Running" "k get pod kl-0 -o jsonpath='{.status.phase}'"
k delete deployment aa >/dev/null
k delete pods -l 'app in (na,pa,fill,t,kl)' --wait=false >/dev/null
k delete node chassis-a chassis-b >/dev/null

# ---- Multus' NetworkAttachmentDefinition CRD is served (seed 000's NAD) -------------------------
cat >"$D/y/nad.yaml" <<'EOF'
apiVersion: "k8s.cni.cncf.io/v1"
kind: NetworkAttachmentDefinition
metadata:
  name: ovn-vpc-external-network
  namespace: kube-system
spec:
  config: '{
      "cniVersion": "0.3.0",
      "type": "macvlan",
      "master": "eth0",
      "mode": "bridge",
      "ipam": {
        "type": "kube-ovn",
        "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
        "provider": "ovn-vpc-external-network.kube-system"
      }
    }'
EOF
expect "kubectl apply of seed 000's NetworkAttachmentDefinition" "$(k apply -f "$D/y/nad.yaml" 2>&1)" \
    "networkattachmentdefinition.k8s.cni.cncf.io/ovn-vpc-external-network created"
expect_match "kubectl get net-attach-def -n kube-system" "$(k get net-attach-def -n kube-system 2>&1)" 'ovn-vpc-external-network +[0-9]+s'

# ---- service accounts, tokens and RBAC (selftest-rbac.sh) ----------------------------------------
. "$HERE/selftest-rbac.sh"

# ---- restart: same URL, token and CRDs; fresh state ----------------------------------------------
old_port=$KUBE_PORT
if "$HERE/kube.sh" restart "$D" >/dev/null 2>&1; then ok "kube.sh restart"; else bad "kube.sh restart"; fi
set -a
. "$D/env"
set +a
expect "restart keeps the port" "$KUBE_PORT" "$old_port"
expect "after restart: CRDs from --crds are served again, objects are gone" "$(k get vpc -o name 2>&1 | wc -l) $(code GET /apis/kubeovn.io/v1/vpcs)" "0 200"

echo
echo "# $PASS passed, $FAIL failed"
((FAIL == 0))
