#!/usr/bin/env python3
"""krkn-lib's pod kill, driven the way krkn's pod-disruption scenario drives it.

    krkn_pod_kill.py --kubeconfig FILE --namespace NS --label-selector SEL --grace N [--workers W]

krkn's PodDisruptionScenarioPlugin.killing_pods lists the Running pods by label in the namespaces
matching a pattern (KrknKubernetes.select_pods_by_namespace_pattern_and_label), shuffles them and
calls KrknKubernetes.delete_pod on each, one after the other. --workers 0 (the default) does
exactly that; --workers W hands the same calls to a thread pool of W threads, as krkn does where
it kills in parallel. delete_pod itself reads the pod, deletes it and then polls (every second)
until the pod is gone or replaced, so a pod that lingers in its grace period costs a second each.
Run by pod_kill_bench (bench/pod_kill_bench.sh) from the bench's private virtualenv.
"""

import argparse
import concurrent.futures
import random
import re
import sys

from krkn_lib.k8s import KrknKubernetes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--label-selector", required=True)
    ap.add_argument("--grace", type=int, required=True)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    kubecli = KrknKubernetes(kubeconfig_path=args.kubeconfig)
    pods = kubecli.select_pods_by_namespace_pattern_and_label(
        namespace_pattern="^" + re.escape(args.namespace) + "$",
        label_selector=args.label_selector,
        field_selector="status.phase=Running",
    )
    random.shuffle(pods)

    def kill(pod):
        kubecli.delete_pod(pod[0], pod[1], grace_period_seconds=args.grace)

    if args.workers <= 0:
        for pod in pods:
            kill(pod)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
            for f in [pool.submit(kill, pod) for pod in pods]:
                f.result()
    print(f"krkn_pod_kill: deleted {len(pods)} pods", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
