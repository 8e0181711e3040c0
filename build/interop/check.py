"""Reads the files build/interop writes with the reference implementations: tensorboard's event
reader, safetensors, onnx's checker and shape inference, and ONNX Runtime. Prints a line per
check and key=value totals; exits 1 when a check fails. Also writes, for our tests to read, a
safetensors file made by safetensors.torch (torch_written.safetensors + .json with its values).

Run: python3 build/interop/check.py FILES_FOLDER [FIXTURE_OUT_FOLDER]
"""

import glob
import io
import json
import math
import os
import sys
import traceback

import numpy as np

root = sys.argv[1]
fixture_out = sys.argv[2] if len(sys.argv) > 2 else None
expected = json.load(open(os.path.join(root, "expected.json")))
failures = []


def check(name):
    def run(body):
        try:
            detail = body()
            print(f"ok   {name}{': ' + detail if detail else ''}")
        except Exception as error:  # a check that throws is a failed check, the others still run
            failures.append(name)
            print(f"FAIL {name}: {error!r}")
            traceback.print_exc(limit=3)
        return body

    return run


def close(actual, wanted, tolerance, what):
    actual, wanted = np.asarray(actual, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    if actual.shape != wanted.shape:
        raise AssertionError(f"{what}: shape {actual.shape} != {wanted.shape}")
    difference = float(np.max(np.abs(actual - wanted))) if actual.size else 0.0
    if not difference <= tolerance:
        raise AssertionError(f"{what}: max abs difference {difference:g} > {tolerance:g}")
    return difference


# --- TensorBoard -------------------------------------------------------------------------------
from tensorboard.backend.event_processing import event_accumulator as ea

logdir = os.path.join(root, "tensorboard")


def accumulator(run):
    accumulated = ea.EventAccumulator(os.path.join(logdir, run), size_guidance={kind: 0 for kind in (
        ea.SCALARS, ea.HISTOGRAMS, ea.IMAGES, ea.TENSORS, ea.COMPRESSED_HISTOGRAMS, ea.AUDIO, ea.GRAPH, ea.RUN_METADATA)})
    return accumulated.Reload()


train, validation = accumulator("train"), accumulator("validation")
history = expected["history"]


@check("tensorboard: epoch scalars equal Fit's history (train and validation runs)")
def _():
    compared = []
    for run, prefix in ((train, ""), (validation, "val_")):
        for name, values in history.items():
            if prefix and not name.startswith(prefix) or not prefix and name.startswith("val_"):
                continue
            tag = "epoch/" + name[len(prefix):]
            events = run.Scalars(tag)
            close([e.value for e in events], values, 1e-5 * max(1, max(map(abs, values))), tag)
            if [e.step for e in events] != sorted(e.step for e in events):
                raise AssertionError(f"{tag}: steps out of order")
            compared.append(("validation/" if prefix else "train/") + tag)
    return ", ".join(compared)


@check("tensorboard: wall times are Unix seconds of today")
def _():
    times = [e.wall_time for run in (train, validation) for tag in run.Tags()["scalars"] for e in run.Scalars(tag)]
    if not times or not all(1.7e9 < t < 2.2e9 for t in times):
        raise AssertionError(f"wall times {min(times)}..{max(times)}")
    return f"{len(times)} scalar events"


@check("tensorboard: batch loss, learning rate and step-time scalars")
def _():
    tags = train.Tags()["scalars"]
    missing = [t for t in ("batch/loss", "time/forward_s", "time/backward_s") if t not in tags]
    if missing:
        raise AssertionError(f"missing {missing}; have {tags}")
    return f"{len(tags)} scalar tags"


@check("tensorboard: weight and gradient histograms")
def _():
    tags = train.Tags()["histograms"]
    weights = [t for t in tags if t.startswith("weights/")]
    gradients = [t for t in tags if t.startswith("gradients/")]
    if not weights or not gradients:
        raise AssertionError(f"histogram tags {tags}")
    for tag in weights + gradients:
        for event in train.Histograms(tag):
            h = event.histogram_value
            if not (h.num > 0 and h.min <= h.max and abs(sum(h.bucket) - h.num) < 1e-6 * h.num + 1e-9):
                raise AssertionError(f"{tag}: num {h.num}, bucket sum {sum(h.bucket)}, min {h.min}, max {h.max}")
    return f"{len(weights)} weight, {len(gradients)} gradient tags"


@check("tensorboard: sample images decode as 28x28 PNG")
def _():
    from PIL import Image

    tags = train.Tags()["images"]
    if not tags:
        raise AssertionError("no image tags")
    for tag in tags:
        event = train.Images(tag)[0]
        image = Image.open(io.BytesIO(event.encoded_image_string))
        image.load()
        if image.size != (28, 28) or (event.width, event.height) != (28, 28):
            raise AssertionError(f"{tag}: {image.size}")
    return ", ".join(tags)


@check("tensorboard: model summary as text (text plugin)")
def _():
    tags = train.Tags()["tensors"]
    summary = [t for t in tags if "summary" in t]
    if not summary:
        raise AssertionError(f"tensor tags {tags}")
    text = train.Tensors(summary[0])[0].tensor_proto.string_val[0].decode()
    if "Conv2D" not in text and "conv" not in text.lower():
        raise AssertionError(f"summary text: {text[:200]}")
    return summary[0]


@check("tensorboard: model graph parses as a GraphDef")
def _():
    graph = train.Graph()
    ops = {node.op for node in graph.node}
    if len(graph.node) < 5:
        raise AssertionError(f"{len(graph.node)} nodes")
    return f"{len(graph.node)} nodes, ops {sorted(ops)[:8]}"


@check("tensorboard: profiler's per-step RunMetadata (step stats per layer)")
def _():
    tags = train.Tags()["run_metadata"]
    if not tags:
        raise AssertionError("no run metadata")
    metadata = train.RunMetadata(tags[0])
    nodes = [n for device in metadata.step_stats.dev_stats for n in device.node_stats]
    if not nodes or not all(n.all_end_rel_micros >= 0 for n in nodes):
        raise AssertionError(f"{tags[0]}: {len(nodes)} node stats")
    return f"{tags}, {len(nodes)} node stats in {tags[0]}"


@check("profiler: trace.json is Chrome trace-event JSON")
def _():
    trace = json.load(open(os.path.join(logdir, "profile", "trace.json")))
    events = trace["traceEvents"]
    phases = {e["ph"] for e in events}
    spans = [e for e in events if e["ph"] == "X"]
    if not spans or not all(e["dur"] >= 0 and "ts" in e and "name" in e for e in spans):
        raise AssertionError(f"phases {phases}")
    return f"{len(events)} events, phases {sorted(phases)}"


# --- safetensors -------------------------------------------------------------------------------
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

torch_dtypes = {"Float64": torch.float64, "Float32": torch.float32, "Float16": torch.float16, "BFloat16": torch.bfloat16,
                "Int64": torch.int64, "Int32": torch.int32, "Int16": torch.int16, "Int8": torch.int8, "Byte": torch.uint8,
                "Bool": torch.bool}


@check("safetensors: every dtype, shape, value and the metadata of our file")
def _():
    path = os.path.join(root, "dtypes.safetensors")
    with safe_open(path, framework="pt") as file:
        metadata = file.metadata()
        names = set(file.keys())
    if metadata.get("note") != "written by Functional":
        raise AssertionError(f"metadata {metadata}")
    tensors = load_file(path)
    wanted = expected["dtypes"]
    if names != set(wanted):
        raise AssertionError(f"names {sorted(names)} != {sorted(wanted)}")
    for name, spec in wanted.items():
        tensor = tensors[name]
        if tensor.dtype != torch_dtypes[spec["dtype"]] or list(tensor.shape) != spec["shape"]:
            raise AssertionError(f"{name}: {tensor.dtype} {list(tensor.shape)} vs {spec['dtype']} {spec['shape']}")
        values = [float(v) for v in spec["values"]]
        actual = tensor.double().flatten().tolist() if tensor.dtype != torch.int64 else tensor.flatten().tolist()
        wanted_values = values if tensor.dtype != torch.int64 else [int(v) for v in spec["values"]]
        if actual != wanted_values:
            raise AssertionError(f"{name}: {actual} != {wanted_values}")
    return f"{len(names)} tensors"


@check("safetensors: a saved model's state loads in safetensors.torch")
def _():
    [path] = glob.glob(os.path.join(root, "saved-cnn", "state.*.safetensors"))
    tensors = load_file(path)
    parameters = sum(t.numel() for name, t in tensors.items() if t.is_floating_point())
    if not tensors or parameters < 1000:
        raise AssertionError(f"{len(tensors)} tensors, {parameters} values")
    return f"{len(tensors)} tensors, {parameters} values: {sorted(tensors)[:4]}..."


if fixture_out:
    @check("safetensors: write torch_written.safetensors for our tests")
    def _():
        os.makedirs(fixture_out, exist_ok=True)
        generator = torch.Generator().manual_seed(0)
        tensors = {
            "linear.weight": torch.randn(3, 4, generator=generator),
            "linear.bias": torch.randn(3, generator=generator).double(),
            "half": torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16),
            "brain": torch.tensor([1.0, -3.140625, 1e30], dtype=torch.bfloat16),
            "steps": torch.tensor([-(2**63), 0, 2**63 - 1], dtype=torch.int64),
            "ids": torch.tensor([[1, 2], [3, 4]], dtype=torch.int32),
            "small": torch.tensor([-128, 127], dtype=torch.int8),
            "bytes": torch.tensor([0, 255], dtype=torch.uint8),
            "flags": torch.tensor([True, False]),
            "scalar": torch.tensor(7.25),
        }
        save_file(tensors, os.path.join(fixture_out, "torch_written.safetensors"), metadata={"format": "pt", "by": "safetensors.torch"})
        values = {name: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                         "values": [repr(v) for v in (t.flatten().tolist() if t.dtype == torch.int64 else t.double().flatten().tolist())]}
                  for name, t in tensors.items()}
        json.dump(values, open(os.path.join(fixture_out, "torch_written.json"), "w"), indent=1)
        return f"{len(tensors)} tensors"


# --- ONNX --------------------------------------------------------------------------------------
import onnx
import onnxruntime as ort

io_tensors = load_file(os.path.join(root, "onnx-io.safetensors"))
tolerances = {"cnn": 1e-5, "lstm": 1e-5, "attention": 1e-5, "mixed": None}

for name, tolerance in tolerances.items():
    @check(f"onnx: {name}.onnx passes the full checker and strict shape inference, runs in ONNX Runtime {ort.__version__}")
    def _(name=name, tolerance=tolerance):
        path = os.path.join(root, f"{name}.onnx")
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        element_types = {t.type.tensor_type.elem_type for t in list(model.graph.input) + list(model.graph.output)}
        initializer_types = {i.data_type for i in model.graph.initializer}
        float_types = {onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
        if name == "mixed" and (initializer_types | element_types) & float_types:
            raise AssertionError(f"a mixed model's default export is float32; found types {initializer_types | element_types}")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        inputs = io_tensors[f"{name}.input"].numpy()
        ours = io_tensors[f"{name}.output"].double().numpy()
        [theirs] = session.run(None, {session.get_inputs()[0].name: inputs})
        [single] = session.run(None, {session.get_inputs()[0].name: inputs[:1]})
        close(single[0], theirs[0], 1e-5, "batch 1 vs row 0 of the batch")
        if tolerance is None:  # our Predict computes in bfloat16; the graph is float32
            difference = float(np.max(np.abs(theirs - ours)))
            same_class = float(np.mean(theirs.argmax(1) == ours.argmax(1)))
            if not (difference < 0.25 and same_class >= 0.95):
                raise AssertionError(f"float32 graph vs bfloat16 Predict: max abs {difference:g}, same class {same_class}")
            return f"opset {model.opset_import[0].version}, vs bf16 Predict max abs {difference:.3g}, same class {same_class:.3f}"
        difference = close(theirs, ours, tolerance, "ONNX Runtime vs our Predict")
        return f"opset {model.opset_import[0].version}, {len(model.graph.node)} nodes, max abs {difference:.2g}"

print(f"checks_failed={len(failures)}")
if failures:
    print("failed: " + "; ".join(failures))
sys.exit(1 if failures else 0)
