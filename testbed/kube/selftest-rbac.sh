# selftest-rbac.sh: sourced by selftest.sh (its helpers and its running server): service accounts,
# their admission, TokenRequest, tokens as identities, and RBAC enforced for them as Kubernetes
# does (resourceNames, field-selected lists and watches, subresources, Role vs ClusterRole,
# namespaced vs cluster bindings, the Forbidden text). The admin token is never refused.

# sa_code TOKEN METHOD PATH [curl args...]: like code, with a service account's token
sa_code() {
    local t=$1 m=$2 p=$3
    shift 3
    curl -sS --max-time 20 --cacert "$KUBE_CA" -H "Authorization: Bearer $t" -o "$D/body" -w '%{http_code}' \
        -X "$m" "$@" "$KUBE_URL$p"
}
forbidden_msg() { body "o['message']"; }
JSON=(-H 'Content-Type: application/json')
MERGE=(-H 'Content-Type: application/merge-patch+json')

# ---- service accounts and their admission ----
expect "every namespace has its default ServiceAccount" \
    "$(k get sa -A --no-headers 2>&1 | awk '$2 == "default" {print $1}' | tr '\n' ' ')" \
    "default kube-node-lease kube-public kube-system "
k create namespace gw >/dev/null
expect "a new namespace's default ServiceAccount is there at once: a pod right after it is admitted" \
    "$(code POST /api/v1/namespaces/gw/pods "${JSON[@]}" -d '{"metadata":{"name":"p0"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}') $(body "[o['spec']['serviceAccountName'], o['spec']['serviceAccount']]")" \
    '201 ["default", "default"]'
expect "a pod naming a missing ServiceAccount: 403 as the ServiceAccount admission plugin says" \
    "$(code POST /api/v1/namespaces/gw/pods "${JSON[@]}" -d '{"metadata":{"name":"p1"},"spec":{"serviceAccountName":"nat","containers":[{"name":"c","image":"busybox"}]}}') $(body "[o['reason'], o['message']]")" \
    '403 ["Forbidden", "pods \"p1\" is forbidden: error looking up service account gw/nat: serviceaccount \"nat\" not found"]'
k -n gw delete sa default >/dev/null 2>&1
wait_eq "a deleted default ServiceAccount is made again" "default" "k -n gw get sa default -o 'jsonpath={.metadata.name}'"
expect "kubectl create serviceaccount" "$(k -n gw create sa nat 2>&1)" "serviceaccount/nat created"
expect "the same pod with the account in place: 201" \
    "$(code POST /api/v1/namespaces/gw/pods "${JSON[@]}" -d '{"metadata":{"name":"p1"},"spec":{"serviceAccountName":"nat","containers":[{"name":"c","image":"busybox"}]}}')" 201
k -n gw create sa other >/dev/null
expect "discovery: serviceaccounts/token is authentication.k8s.io/v1 TokenRequest, verb create" \
    "$(api "$KUBE_URL/api/v1" | jp "[(r['group'],r['version'],r['kind'],r['verbs']) for r in o['resources'] if r['name']=='serviceaccounts/token'][0]")" \
    '["authentication.k8s.io", "v1", "TokenRequest", ["create"]]'

# ---- TokenRequest ----
TR=/api/v1/namespaces/gw/serviceaccounts/nat/token
expect "TokenRequest: 201 with a token and its expiry" \
    "$(code POST "$TR" "${JSON[@]}" -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}') $(body "[o['kind'], len(o['status']['token']) > 20, o['status']['expirationTimestamp'] > '2000', o['spec']['audiences']]")" \
    '201 ["TokenRequest", true, true, ["https://kubernetes.default.svc.cluster.local"]]'
NAT=$(body "o['status']['token']")
expect "TokenRequest under 10 minutes: 422" \
    "$(code POST "$TR" "${JSON[@]}" -d '{"spec":{"expirationSeconds":599}}') $(body "o['message']")" \
    '422 TokenRequest.authentication.k8s.io "nat" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes'
expect "TokenRequest for a missing ServiceAccount: 404" "$(code POST /api/v1/namespaces/gw/serviceaccounts/nope/token "${JSON[@]}" -d '{}')" 404
OTHER=$(k -n gw create token other 2>&1)
expect "kubectl create token (protobuf TokenRequest) gives a token" "${#OTHER}" 43
p1uid=$(k -n gw get pod p1 -o 'jsonpath={.metadata.uid}')
code POST "$TR" "${JSON[@]}" -d "{\"spec\":{\"boundObjectRef\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"name\":\"p1\",\"uid\":\"$p1uid\"}}}" >/dev/null
BOUND=$(body "o['status']['token']")
expect "a token bound to a pod with another uid: 409" \
    "$(code POST "$TR" "${JSON[@]}" -d '{"spec":{"boundObjectRef":{"kind":"Pod","name":"p1","uid":"0000"}}}')" 409

# ---- RBAC: the NAT gateway's Role (contract13): resourceNames on configmaps and pods ----
k -n gw create configmap rules --from-literal=rules.json='{}' >/dev/null
k -n gw create configmap secret-ish --from-literal=x=1 >/dev/null
cat >"$D/y/role.yaml" <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: nat, namespace: gw}
rules:
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [rules]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods]
  resourceNames: [p1]
  verbs: [get, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: nat, namespace: gw}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: nat}
subjects:
- {kind: ServiceAccount, name: nat}
EOF
expect "kubectl apply of a Role and a RoleBinding" "$(k apply -f "$D/y/role.yaml" 2>&1 | tr '\n' ' ')" \
    "role.rbac.authorization.k8s.io/nat created rolebinding.rbac.authorization.k8s.io/nat created "
expect_match "kubectl get rolebinding -o wide (a subject without a namespace: its name alone)" "$(k -n gw get rolebinding nat -o wide 2>&1)" 'nat +Role/nat +[0-9]+s +nat'
CM=/api/v1/namespaces/gw/configmaps
expect "the account may get its ConfigMap" "$(sa_code "$NAT" GET "$CM/rules") $(body "o['metadata']['name']")" "200 rules"
expect "another ConfigMap: 403 with kube-apiserver's text" "$(sa_code "$NAT" GET "$CM/secret-ish") $(body "[o['reason'], o['details']]")" \
    '403 ["Forbidden", {"name": "secret-ish", "kind": "configmaps"}]'
expect "... the message" "$(forbidden_msg)" \
    'configmaps "secret-ish" is forbidden: User "system:serviceaccount:gw:nat" cannot get resource "configmaps" in API group "" in the namespace "gw"'
expect "a list without a name: 403 (resourceNames allow no plain list)" "$(sa_code "$NAT" GET "$CM") $(forbidden_msg)" \
    '403 configmaps is forbidden: User "system:serviceaccount:gw:nat" cannot list resource "configmaps" in API group "" in the namespace "gw"'
expect "a list with fieldSelector=metadata.name=rules: 200, that one item" \
    "$(sa_code "$NAT" GET "$CM?fieldSelector=metadata.name%3Drules") $(body "[i['metadata']['name'] for i in o['items']]")" '200 ["rules"]'
expect "... with metadata.name==rules too" "$(sa_code "$NAT" GET "$CM?fieldSelector=metadata.name%3D%3Drules")" 200
expect "a list selecting another name: 403" "$(sa_code "$NAT" GET "$CM?fieldSelector=metadata.name%3Dsecret-ish") $(body "o['details']")" \
    '403 {"name": "secret-ish", "kind": "configmaps"}'
wcode=$(sa_code "$NAT" GET "$CM?watch=true&fieldSelector=metadata.name%3Drules&timeoutSeconds=1")
expect "a watch with fieldSelector=metadata.name=rules: 200, ADDED rules" \
    "$wcode $(types "$D/body") $("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["object"]["metadata"]["name"])' "$D/body")" \
    "200 ADDED rules"
expect "a watch without the selector: 403 watch" "$(sa_code "$NAT" GET "$CM?watch=true&timeoutSeconds=1") $(forbidden_msg)" \
    '403 configmaps is forbidden: User "system:serviceaccount:gw:nat" cannot watch resource "configmaps" in API group "" in the namespace "gw"'
expect "writing its ConfigMap: 403 update" "$(sa_code "$NAT" PUT "$CM/rules" "${JSON[@]}" -d '{"metadata":{"name":"rules"}}') $(forbidden_msg)" \
    '403 configmaps "rules" is forbidden: User "system:serviceaccount:gw:nat" cannot update resource "configmaps" in API group "" in the namespace "gw"'
PODS=/api/v1/namespaces/gw/pods
expect "a merge patch of its own pod's annotations: 200" \
    "$(sa_code "$NAT" PATCH "$PODS/p1" "${MERGE[@]}" -d '{"metadata":{"annotations":{"ovn-vpcd.io/applied-rules":"none"}}}') $(body "o['metadata']['annotations']")" \
    '200 {"ovn-vpcd.io/applied-rules": "none"}'
expect "patching another pod: 403 patch" "$(sa_code "$NAT" PATCH "$PODS/p0" "${MERGE[@]}" -d '{}') $(forbidden_msg)" \
    '403 pods "p0" is forbidden: User "system:serviceaccount:gw:nat" cannot patch resource "pods" in API group "" in the namespace "gw"'
expect "patching its pod's status: 403 (pods/status is another resource)" "$(sa_code "$NAT" PATCH "$PODS/p1/status" "${MERGE[@]}" -d '{}') $(forbidden_msg)" \
    '403 pods "p1" is forbidden: User "system:serviceaccount:gw:nat" cannot patch resource "pods/status" in API group "" in the namespace "gw"'
expect "deleting its pod: 403" "$(sa_code "$NAT" DELETE "$PODS/p1")" 403
expect "the same ConfigMap in another namespace: 403" "$(sa_code "$NAT" GET /api/v1/namespaces/default/configmaps/rules) $(body "o['message'].endswith('in the namespace \"default\"')")" '403 true'
expect "nodes (cluster scope): 403 at the cluster scope" "$(sa_code "$NAT" GET /api/v1/nodes) $(forbidden_msg)" \
    '403 nodes is forbidden: User "system:serviceaccount:gw:nat" cannot list resource "nodes" in API group "" at the cluster scope'
expect "discovery and /version are everyone's (system:discovery)" \
    "$(sa_code "$NAT" GET /api) $(sa_code "$NAT" GET /apis/apps/v1) $(sa_code "$NAT" GET /version)" "200 200 200"
expect "the testbed's admin endpoints: 403 for a non-resource path" "$(sa_code "$NAT" GET /testbed/state) $(forbidden_msg)" \
    '403 forbidden: User "system:serviceaccount:gw:nat" cannot get path "/testbed/state"'
expect "an account without bindings gets its own name in the refusal" "$(sa_code "$OTHER" GET "$CM/rules") $(body "o['message'].split(' cannot')[0]")" \
    '403 configmaps "rules" is forbidden: User "system:serviceaccount:gw:other"'
expect "a TokenRequest by the account itself: 403 create serviceaccounts/token" "$(sa_code "$NAT" POST "$TR" "${JSON[@]}" -d '{}') $(body "o['message'].split(' cannot ')[1]")" \
    '403 create resource "serviceaccounts/token" in API group "" in the namespace "gw"'
expect "the admin token is never refused" "$(code GET "$CM") $(code GET /testbed/state)" "200 200"

# ---- ClusterRoles: through a RoleBinding (one namespace) and a ClusterRoleBinding (everywhere) ----
k create clusterrole cm-reader --verb=get,list --resource=configmaps >/dev/null
k -n gw create rolebinding other-cm --clusterrole=cm-reader --serviceaccount=gw:other >/dev/null
expect "a ClusterRole bound by a RoleBinding: allowed in that namespace" "$(sa_code "$OTHER" GET "$CM")" 200
expect "... not in another" "$(sa_code "$OTHER" GET /api/v1/namespaces/default/configmaps)" 403
expect "... nor across namespaces" "$(sa_code "$OTHER" GET /api/v1/configmaps) $(body "o['message'].split(' cannot ')[1]")" \
    '403 list resource "configmaps" in API group "" at the cluster scope'
k create clusterrolebinding other-cm --clusterrole=cm-reader --serviceaccount=gw:other >/dev/null
expect "a ClusterRoleBinding: every namespace and the cluster-wide list" \
    "$(sa_code "$OTHER" GET /api/v1/namespaces/default/configmaps) $(sa_code "$OTHER" GET /api/v1/configmaps)" "200 200"
printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: group, namespace: gw}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-reader}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts:gw"}\n' |
    k apply -f - >/dev/null
expect "a binding to a missing role is skipped and named in the refusal" "$(sa_code "$NAT" GET "$CM/secret-ish") $(body "o['message'].split(' in the namespace ')[1]")" \
    '403 "gw": RBAC: clusterrole.rbac.authorization.k8s.io "node-reader" not found'
k create clusterrole node-reader --verb=get --resource=configmaps --resource-name=secret-ish >/dev/null
expect "... and applies once the role exists (a Group subject: system:serviceaccounts:gw)" "$(sa_code "$NAT" GET "$CM/secret-ish")" 200
expect "pods/status by a */status rule" \
    "$(k create clusterrole status-writer --verb=patch --resource='*/status' >/dev/null; k -n gw create rolebinding nat-status --clusterrole=status-writer --serviceaccount=gw:nat >/dev/null; sa_code "$NAT" PATCH "$PODS/p1/status" "${MERGE[@]}" -d '{}')" 200

# ---- validation of the RBAC kinds ----
expect "a Role rule without verbs: 422" \
    "$(code POST /apis/rbac.authorization.k8s.io/v1/namespaces/gw/roles "${JSON[@]}" -d '{"metadata":{"name":"bad"},"rules":[{"apiGroups":[""],"resources":["pods"]}]}') $(body "o['details']['causes'][0]['field']")" \
    "422 rules[0].verbs"
expect "a Role with a non-resource URL: 422" \
    "$(code POST /apis/rbac.authorization.k8s.io/v1/namespaces/gw/roles "${JSON[@]}" -d '{"metadata":{"name":"bad"},"rules":[{"verbs":["get"],"nonResourceURLs":["/x"]}]}') $(body "o['details']['causes'][0]['message']")" \
    '422 Invalid value: ["/x"]: namespaced rules cannot apply to non-resource URLs'
expect "a RoleBinding's roleRef cannot change: 422" \
    "$(code PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/gw/rolebindings/nat "${MERGE[@]}" -d '{"roleRef":{"name":"other"}}') $(body "o['details']['causes'][0]['message'].split(': ')[-1]")" \
    "422 cannot change roleRef"

# ---- a token dies with what it is bound to ----
expect "a pod-bound token works while its pod exists" "$(sa_code "$BOUND" GET "$CM/rules")" 200
k -n gw delete pod p1 --wait=false >/dev/null 2>&1
expect "... and is refused (401) once the pod is deleted" "$(sa_code "$BOUND" GET "$CM/rules")" 401
k -n gw delete sa nat >/dev/null
expect "a deleted ServiceAccount's tokens: 401" "$(sa_code "$NAT" GET "$CM/rules")" 401
k -n gw create sa nat >/dev/null
expect "... also once an account of the same name is made again (another uid)" "$(sa_code "$NAT" GET "$CM/rules")" 401
k delete namespace gw --wait=false >/dev/null 2>&1
k delete clusterrole cm-reader node-reader status-writer >/dev/null 2>&1
k delete clusterrolebinding other-cm >/dev/null 2>&1
