"""bootstrap.py: what the server starts with: the default namespaces and service account, the Nodes, the CRDs
of --crds. Mixed into Api.
"""

import ipaddress
import json
import os

from .util import jcopy, log, md_of, now_ts
from .errors import ApiError


class Bootstrap:
    # ---- bootstrap -----------------------------------------------------------------------

    def bootstrap(self):
        core = lambda p: self.reg.find("", "v1", p)
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(core("namespaces"), None, {"metadata": {"name": ns}}, {}, internal=True)
        self.create(core("serviceaccounts"), "default", {"metadata": {"name": "default"}}, {})
        node_net = ipaddress.ip_network(self.args.node_cidr, strict=False)
        for i, n in enumerate(x.strip() for x in self.args.nodes.split(",") if x.strip()):
            ip = str(node_net.network_address + 2 + i)
            self.create(core("nodes"), None, {"metadata": {"name": n, "labels": {
                "kubernetes.io/hostname": n, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}},
                "spec": {"podCIDR": str(self.pod_net)},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": n}],
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status",
                                           "lastHeartbeatTime": now_ts(), "lastTransitionTime": now_ts()}],
                           "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                           "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                           "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0",
                                        "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": os.uname().release,
                                        "containerRuntimeVersion": "testbed://1.0", "operatingSystem": "linux",
                                        "architecture": "amd64"}}}, {})
        crd_rd = self.reg.find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for d in self.args.crds or []:
            if not os.path.isdir(d):
                raise SystemExit("apiserver: --crds %s: not a directory" % d)
            for fn in sorted(os.listdir(d)):
                if fn.endswith((".yaml", ".yml")):
                    log("warning: --crds %s: %s skipped (CRD manifests are read as *.json only)" % (d, fn))
                if not fn.endswith(".json"):
                    continue
                path = os.path.join(d, fn)
                try:
                    with open(path) as f:
                        doc = json.load(f)
                except (OSError, ValueError) as e:
                    raise SystemExit("apiserver: %s: %s" % (path, e))
                items = doc if isinstance(doc, list) else doc.get("items") if doc.get("kind") == "List" else [doc]
                for it in items:
                    if it.get("kind") != "CustomResourceDefinition":
                        raise SystemExit("apiserver: %s: not a CustomResourceDefinition (kind %r)" % (path, it.get("kind")))
                    try:
                        self.create(crd_rd, None, jcopy(it), {"fieldValidation": "Ignore"})
                    except ApiError as e:
                        raise SystemExit("apiserver: %s: %s" % (path, e.message))
                    log("loaded CRD %s from %s" % (md_of(it).get("name"), path))
