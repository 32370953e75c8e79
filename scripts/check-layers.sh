#!/usr/bin/env bash
# The layers of docs/DEVELOPING.md, enforced: each folder under src/ may
# include headers of the folders listed for it (and its own), nothing else.
# Run by the build (CMake target check_layers, part of ALL): a forbidden
# include fails it, naming the file, the line and the rule.
#   scripts/check-layers.sh [SRC_DIR]
set -euo pipefail
src=${1:-$(dirname "$0")/../src}
declare -A allowed=(
  [common]=""
  [proto]=""
  [ttrpc]="common proto"
  [oci]="common"
  [config]="common"
  [net]="common"
  [vmm]="common"
  [sandbox]="common config net oci proto ttrpc vmm"
  [shim]="common config oci proto sandbox ttrpc vmm"
  [cli]="common config oci proto sandbox shim ttrpc"
  [monitor]="common proto sandbox ttrpc"
  [agent]="common net oci proto ttrpc"
)
bad=0
for dir in "$src"/*/; do
  layer=$(basename "$dir")
  [[ -v allowed[$layer] ]] || { echo "check-layers: src/$layer is not in the layer table (scripts/check-layers.sh)" >&2; bad=1; continue; }
  while IFS=: read -r file line inc; do
    used=${inc#*\"}; used=${used%%/*}
    [[ "$used" == "$layer" || ! -d "$src/$used" ]] && continue
    if [[ " ${allowed[$layer]} " != *" $used "* ]]; then
      echo "check-layers: ${file#"$src"/}:$line: $layer may not include $used/ (allowed: ${allowed[$layer]:-nothing}; docs/DEVELOPING.md)" >&2
      bad=1
    fi
  done < <(grep -rnoE '^#include "[a-z_]+/' "$dir" --include='*.h' --include='*.cc' || true)
done
exit $bad
