# shellcheck shell=bash
# Source this file to use the local SLURM cluster of cluster/start.sh:
#   . cluster/env.sh && sinfo
# It only exports variables (no `set -e` or other shell options), so it is
# safe to source from interactive shells, scripts and tests.
# WSC_CLUSTER_DIR selects the cluster's state folder (default /tmp/wsc-cluster).
WSC_CLUSTER_DIR="${WSC_CLUSTER_DIR:-/tmp/wsc-cluster}"
export WSC_CLUSTER_DIR
export SLURM_CONF="$WSC_CLUSTER_DIR/etc/slurm.conf"
