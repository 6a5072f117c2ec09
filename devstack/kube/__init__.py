"""An emulated Kubernetes cluster for the local stack and the tests.

No real cluster can run where Lifeboat's tests run, so this serves the Kubernetes API over
plain HTTP (the official client works unchanged) and plays the controllers a backup tool
meets: provisioners and the CSI hostpath driver, the snapshot controller, the scheduler,
kubelets with per-node pods directories, workload controllers and the garbage collector.

Start one with `python -m devstack.kube --name N --state-dir DIR --host H --port P
--nodes a,b` (see `layout.emulator_command`); it writes `DIR/kubeconfig`, keeps its store
in `DIR/store.json` and its volumes under `DIR`, and stops cleanly on SIGTERM.

Modules: `kinds` (the served resource types, as data), `store` (etcd's part),
`apiserver` (API operations), `admission` (defaults, validation), `selectors`,
`patching`, `discovery`, `app` (HTTP), `controllers/*`, `drivers` and `bootstrap` (what a
fresh cluster has), `faults` (switchable failures and their client), `layout` (files and
the command line), `seed` (the sample application).
"""
