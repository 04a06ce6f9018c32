"""discovery.py: discovery documents (/api, /apis, /apis/G, /apis/G/V). Mixed into Api.
"""

from .errors import err_path_not_found


class Discovery:
    # ---- discovery -----------------------------------------------------------------------

    def api_versions(self, host):
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}

    def group_entry(self, g, versions):
        vs = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in versions]
        return {"name": g, "versions": vs, "preferredVersion": vs[0]}

    def api_group_list(self):
        with self.store.lock:
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [self.group_entry(g, vs) for g, vs in self.reg.groups() if g]}

    def api_group(self, group):
        with self.store.lock:
            for g, vs in self.reg.groups():
                if g == group:
                    e = self.group_entry(g, vs)
                    e.update({"kind": "APIGroup", "apiVersion": "v1"})
                    return e
        raise err_path_not_found()

    def resource_list(self, group, version):
        with self.store.lock:
            rds = self.reg.in_gv(group, version)
            if not rds:
                raise err_path_not_found()
            res = []
            for rd in rds:
                res.extend(rd.discovery())
            return {"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": "%s/%s" % (group, version) if group else version, "resources": res}
