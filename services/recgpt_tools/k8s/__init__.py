"""Kubernetes manifests from the process registry: a kustomize base under deploy/k8s/base, components that
change it for a cluster's services (GPUs, managed Redis, network policies, autoscaling, Prometheus
Operator, vLLM production-stack), an example overlay, and the checks every rendering must pass.

`make deploy-files` writes them (`files.files`); `make k8s-validate` renders and checks them (`validate`).
"""
