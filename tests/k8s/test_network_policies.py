"""The rendered NetworkPolicies, evaluated: a small evaluator of the Kubernetes NetworkPolicy rules (a
connection is allowed when the source's egress policies AND the destination's ingress policies admit it;
a pod no policy of a direction selects is open in that direction) answers "can A reach B on port P" for
the objects kustomize renders, and the answers are what issue 23 asks: default-deny egress with exact
allows (DNS, the namespace's own pods, the optional external allow-list), WebHDFS from the driver only,
UIs only from the API server's proxy.

Before: egress was open (a pod reached the internet and the cloud metadata address) and every pod of the
namespace reached every UI and WebHDFS.
"""
from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field

import pytest

from tests.k8s.test_manifests import COMPONENT, rendered  # noqa: F401 - the session fixture

pytestmark = pytest.mark.k8s

NS = "hyperspark"
PROXY_IP = "172.18.0.2"  # kind's control-plane node: inside the dev overlay's proxy CIDRs


@dataclass(frozen=True)
class End:
    """A pod (namespace + labels) or an address outside the cluster (namespace None)."""

    ip: str
    namespace: str | None = None
    labels: dict = field(default_factory=dict, hash=False, compare=False)


def pod(component: str, ip: str = "10.244.1.7") -> End:
    return End(ip, NS, {COMPONENT: component, "app.kubernetes.io/name": "hyperspark",
                        "app.kubernetes.io/part-of": "hyperspark"})


DNS = End("10.244.0.3", "kube-system", {"k8s-app": "kube-dns"})
METADATA = End("169.254.169.254")  # cloud instance metadata
INTERNET = End("93.184.216.34")


def _selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        has, value = e["key"] in labels, labels.get(e["key"])
        ok = {"In": has and value in e.get("values", []), "NotIn": not has or value not in e.get("values", []),
              "Exists": has, "DoesNotExist": not has}[e["operator"]]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict, end: End) -> bool:
    if "ipBlock" in peer:
        ip = ipaddress.ip_address(end.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(x) for x in block.get("except", []))
    if end.namespace is None:  # a pod or namespace selector never matches an outside address
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": end.namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif end.namespace != NS:  # a bare podSelector: the policy's own namespace only
        return False
    return _selects(peer.get("podSelector", {}), end.labels)


def _port_matches(rule: dict, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and
               (p.get("port") is None or p["port"] <= port <= p.get("endPort", p["port"])) for p in ports)


def _admits(policies: list[dict], target: End, peer: End, port: int, protocol: str, direction: str) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if target.namespace == NS and direction in p["spec"]["policyTypes"]
                 and _selects(p["spec"]["podSelector"], target.labels)]
    if not selecting:
        return True  # no policy of this direction selects the pod: open
    return any(_port_matches(rule, port, protocol) and
               (not rule.get(peers_key) or any(_peer_matches(x, peer) for x in rule[peers_key]))
               for p in selecting for rule in p["spec"].get(key, []))


def can_reach(objs: list[dict], src: End, dst: End, port: int, protocol: str = "TCP") -> bool:
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    egress_ok = src.namespace != NS or _admits(policies, src, dst, port, protocol, "Egress")
    ingress_ok = dst.namespace != NS or _admits(policies, dst, src, port, protocol, "Ingress")
    return egress_ok and ingress_ok


@pytest.fixture(scope="module")
def dev(rendered):  # noqa: F811 - pytest fixture
    return rendered["overlays/dev"]


def test_the_evaluator_says_no_without_a_policy_and_yes_with_the_old_open_egress(dev):
    """Guard: with no policy at all everything is open, and the base's default deny closes it."""
    assert can_reach([], pod("spark-driver"), INTERNET, 443)
    assert not can_reach(dev, pod("spark-driver"), INTERNET, 443)
    no_egress = [o for o in dev if "Egress" not in o.get("spec", {}).get("policyTypes", [])]
    assert can_reach(no_egress, pod("spark-driver"), INTERNET, 443)  # what the tree allowed before


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod", "overlays/connect", "overlays/gpu"))
def test_egress_is_denied_by_default_with_exactly_dns_the_namespace_and_the_allow_list(rendered, name):  # noqa: F811
    objs = rendered[name]
    pols = {o["metadata"]["name"]: o for o in objs if o["kind"] == "NetworkPolicy"}
    assert pols["default-deny-egress"]["spec"] == {"podSelector": {}, "policyTypes": ["Egress"]}
    egress = {n for n, p in pols.items() if "Egress" in p["spec"]["policyTypes"]}
    assert egress == {"default-deny-egress", "allow-dns", "allow-namespace-peers", "allow-external-egress"}
    for component in ("spark-master", "spark-worker", "spark-driver", "spark-history", "namenode", "datanode"):
        src = pod(component)
        assert can_reach(objs, src, DNS, 53, "UDP") and can_reach(objs, src, DNS, 53, "TCP"), component
        assert not can_reach(objs, src, DNS, 80), component  # kube-system: DNS only
        assert not can_reach(objs, src, End("10.96.0.1", "kube-system", {"component": "kube-apiserver"}), 443)
        for outside in (METADATA, INTERNET, End("8.8.8.8")):
            assert not can_reach(objs, src, outside, 443) and not can_reach(objs, src, outside, 80), component
        assert not can_reach(objs, src, End("10.244.2.9", "other", {COMPONENT: "spark-master"}), 7077)
    # the cluster's own services: the RPC paths Spark and HDFS need
    for src, dst, port in (("spark-worker", "spark-master", 7077), ("spark-driver", "spark-master", 7077),
                           ("spark-master", "spark-worker", 7078), ("spark-worker", "spark-driver", 7080),
                           ("spark-driver", "spark-worker", 7085), ("datanode", "namenode", 8020),
                           ("spark-worker", "datanode", 9866), ("spark-history", "namenode", 8020)):
        assert can_reach(objs, pod(src), pod(dst, "10.244.3.3"), port), (src, dst, port)


def test_the_external_allow_list_is_closed_until_an_overlay_opens_it_and_then_exact(dev):
    allow = next(o for o in dev if o["metadata"]["name"] == "allow-external-egress")
    mlflow = End("203.0.113.10")  # TEST-NET-3: an operator's MLflow server
    assert not can_reach(dev, pod("spark-driver"), mlflow, 5000)
    opened = copy.deepcopy(dev)
    rule = next(o for o in opened if o["metadata"]["name"] == "allow-external-egress")["spec"]["egress"][0]
    rule["to"] = [{"ipBlock": {"cidr": "203.0.113.10/32"}}]  # what k8s/README.md's patch does
    for component in ("spark-driver", "spark-worker"):
        assert can_reach(opened, pod(component), mlflow, 5000) and can_reach(opened, pod(component), mlflow, 443)
        assert not can_reach(opened, pod(component), mlflow, 22)
        assert not can_reach(opened, pod(component), End("203.0.113.11"), 443)
    for component in ("spark-master", "namenode", "datanode", "spark-history"):  # no trial runs there
        assert not can_reach(opened, pod(component), mlflow, 5000), component
    assert {e for e in allow["spec"]["podSelector"]["matchExpressions"][0]["values"]} == {
        "spark-driver", "spark-worker", "spark-connect"}


def test_webhdfs_only_from_the_driver_and_uis_only_from_the_proxy(rendered):  # noqa: F811
    objs = rendered["overlays/connect"]  # dev + the Connect server
    proxy = End(PROXY_IP)
    for dst, port in (("namenode", 9870), ("datanode", 9864)):
        assert can_reach(objs, pod("spark-driver"), pod(dst, "10.244.4.4"), port), dst
        for other in ("spark-worker", "spark-master", "spark-history", "datanode", "spark-connect", "notebook"):
            if other != dst:
                assert not can_reach(objs, pod(other), pod(dst, "10.244.4.4"), port), (other, dst)
    uis = {"spark-master": 8080, "spark-worker": 8081, "spark-driver": 4040, "spark-history": 18080,
           "namenode": 9870, "datanode": 9864, "spark-connect": 4040}
    for dst, port in uis.items():
        assert can_reach(objs, proxy, pod(dst, "10.244.5.5"), port), dst
        assert not can_reach(objs, End("172.18.0.2"), pod(dst, "10.244.5.5"), 7077)  # the proxy: HTTP ports only
        for other in ("spark-worker", "spark-master", "spark-history", "namenode", "spark-connect-client"):
            if other != dst:
                assert not can_reach(objs, pod(other), pod(dst, "10.244.5.5"), port), (other, dst, port)
    # prod keeps the proxy closed (TEST-NET) until the operator sets the control plane's CIDR
    assert not can_reach(rendered["overlays/prod"], proxy, pod("spark-master", "10.244.5.5"), 8080)
