"""bootstrap.py: what the server starts with: the default namespaces (each with its `default` service
account), the bootstrap RBAC policy (cluster-admin for system:masters, discovery for everyone), the Nodes
of --nodes (annotated ovn.kubernetes.io/chassis with their own name), the CRDs of --crds, and
Multus' NetworkAttachmentDefinition CRD (k8s.cni.cncf.io/v1) unless --crds gave one. Mixed into Api.
"""

import json
import os

from .util import jcopy, log, md_of
from .errors import ApiError
from .registry import SK_CRD
from .rbac import bootstrap_policy


class Bootstrap:
    # ---- bootstrap -----------------------------------------------------------------------

    def bootstrap(self):
        core = lambda p: self.reg.find("", "v1", p)
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(core("namespaces"), None, {"metadata": {"name": ns}}, {}, internal=True)
        # each namespace's `default` ServiceAccount comes with it (accounts.py)
        for skey, obj in bootstrap_policy():
            self.create(self.reg.by_skey(skey)[0], None, obj, {}, internal=True)
        for n in (x.strip() for x in self.args.nodes.split(",") if x.strip()):
            # status, addresses and labels: the Node defaults (admission.py), as for one made by kubectl
            self.create(core("nodes"), None, {"metadata": {"name": n, "annotations": {"ovn.kubernetes.io/chassis": n}}}, {})
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
        if ("", NAD_CRD["metadata"]["name"]) not in self.store.objs[SK_CRD]:
            self.create(crd_rd, None, jcopy(NAD_CRD), {})


# Multus' CRD as its deployment manifest defines it
NAD_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "network-attachment-definitions.k8s.cni.cncf.io"},
    "spec": {"group": "k8s.cni.cncf.io", "scope": "Namespaced",
             "names": {"plural": "network-attachment-definitions", "singular": "network-attachment-definition",
                       "kind": "NetworkAttachmentDefinition", "shortNames": ["net-attach-def"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "description": "NetworkAttachmentDefinition is a CRD schema specified by the Network Plumbing "
                                "Working Group to express the intent for attaching pods to one or more logical or "
                                "physical networks.",
                 "type": "object",
                 "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": {"type": "object", "properties": {"config": {"type": "string"}}}}}}}]}}
