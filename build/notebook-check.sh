#!/usr/bin/env bash
# Runs examples/notebook.ipynb headless through Jupyter with .NET Interactive as its kernel, and
# checks what every cell showed. Part of ./build.sh test; needs the build's output.
# Installs what it needs: Debian's jupyter-nbconvert (apt, once) and the dotnet-interactive tool
# (the repository's tool manifest). The kernel is registered in a folder of its own, not in ~.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v jupyter-nbconvert >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends jupyter-nbconvert jupyter-client python3-nbclient >/dev/null
fi
dotnet tool restore >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/kernels/.net-fsharp"
# The tool is local to the repository: the kernel runs it from there (Jupyter starts kernels in
# the notebook's folder, inside the repository, where `dotnet dotnet-interactive` finds it).
cat > "$work/kernels/.net-fsharp/kernel.json" <<'JSON'
{ "argv": ["dotnet", "dotnet-interactive", "jupyter", "--default-kernel", "fsharp", "{connection_file}", "--http-port-range", "2048-3000"],
  "display_name": ".NET (F#)", "language": "F#" }
JSON

JUPYTER_PATH="$work" jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
  --output-dir "$work" --output executed.ipynb examples/notebook.ipynb >"$work/log" 2>&1 || {
  tail -40 "$work/log" >&2
  echo "notebook: examples/notebook.ipynb failed to run" >&2
  exit 1
}

python3 - "$work/executed.ipynb" <<'PY'
import json, re, sys
notebook = json.load(open(sys.argv[1]))
cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
shown, text = [], ""
for i, cell in enumerate(cells):
    for output in cell["outputs"]:
        if output["output_type"] == "error":
            sys.exit(f"notebook: code cell {i + 1} failed: {output.get('ename')}: {output.get('evalue')}")
        if output["output_type"] == "stream":
            text += "".join(output["text"])
        html = "".join(output.get("data", {}).get("text/html", []))
        shown.append(html)
def expect(what, found):
    if not found: sys.exit(f"notebook: expected {what}")
expect("the model's summary", any("<pre>Model: " in h for h in shown))
expect("a progress bar per epoch", sum("<progress" in h and "Epoch " in h for h in shown) >= 3)
expect("Plotly charts (history, confusion matrix, samples)", sum("renderPlotly" in h for h in shown) >= 3)
expect("the profile's verdict", any("Verdict: " in h for h in shown))
accuracy = re.search(r"notebook_test_accuracy=([0-9.]+)", text)
expect("a test accuracy line", accuracy)
expect(f"test accuracy above 0.8 (got {accuracy.group(1)})", float(accuracy.group(1)) > 0.8)
print(f"notebook: {len(cells)} code cells ran; test accuracy {accuracy.group(1)}")
PY
