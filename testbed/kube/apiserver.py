#!/usr/bin/python3
"""apiserver.py: the entry point of the ovn-vpcd testbed's Kubernetes API server.

The server itself is the package kubeapi/ beside this file (see kubeapi/__init__.py for its
parts). Run it with /usr/bin/python3; testbed/kube/kube.sh starts it with certificates, a token
and a kubeconfig. See testbed/README.md for flags and admin endpoints.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kubeapi.main import main  # noqa: E402  (after the path is set)

if __name__ == "__main__":
    main()
