"""kubeapi: the ovn-vpcd testbed's Kubernetes API server (Python standard library only).

No kube-apiserver can be installed on the test machines, so this speaks the parts of the real
Kubernetes REST API that kubectl 1.32 and a raw REST client need: discovery, CRDs (served from
JSON manifests and created through apiextensions.k8s.io), list (limit/continue, label and field
selectors), watch (resourceVersion, bookmarks, timeoutSeconds, 410 Expired), create, update,
merge/JSON/strategic patch, server-side apply, delete (finalizers, ownerReference garbage
collection, namespace termination), the status and scale subresources, Table output,
Deployment -> ReplicaSet -> Pod and StatefulSet -> Pod controllers, a scheduler (node selectors
and affinity, pod anti-affinity, taints) and a fake kubelet.

State is in memory only. testbed/kube/apiserver.py is the entry point (run it with
/usr/bin/python3); testbed/kube/kube.sh starts it with certificates, a token and a kubeconfig.
See testbed/README.md for flags and admin endpoints.

The parts (each file imports from the others only the names it uses):
  HTTP and auth        handler.py (tokens, request plumbing, routing, TLS server), accounts.py
                       (service accounts, their admission, TokenRequest, who a token is), rbac.py
                       (request attributes, the RBAC authorizer, Forbidden), main.py (flags,
                       listeners), watch.py (watch streams), admin.py (/testbed/... endpoints)
  storage              store.py (objects, resourceVersion, event log)
  request semantics    api.py (create, update, patch, apply, scale, delete, list)
  schema and admission admission.py (built-in kinds: defaults, validation), schema.py (CRD
                       structural schemas), names.py (names, metadata, selectors)
  kinds and discovery  registry.py (RDef, Registry, built-in kinds), discovery.py, bootstrap.py
                       (default namespaces, Nodes, --crds), tables.py (kubectl's Table output)
  controllers          controllers.py (namespaces, CRD cleanup, GC), workloads.py (Deployments,
                       ReplicaSets, StatefulSets), scheduler.py (scheduler and kubelet, incremental)
  scheduling rules     placement.py (feasible nodes and their ranking; pure)
  exec streaming       exec.py (pods/POD/exec over WebSocket and pods/POD/log, relayed to the pod's
                       node agent on its unix socket)
  encodings            patch.py (merge, strategic, JSON patch), jsonpath.py, protobuf.py
  shared               util.py (constants, helpers), errors.py (ApiError and its reasons)
"""
