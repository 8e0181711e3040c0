/// The profiler: chosen steps recorded per phase and per layer, as a Chrome trace, TensorBoard
/// run metadata and a report with a verdict.
module Functional.PropertyTests.ProfilerTests

open System
open System.IO
open System.Text.Json
open System.Threading
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Training
open Functional.Profiling
open Functional.Streams
open Functional.Streams.Training
open Functional.Autodiff
open Support

let private cnn seed =
    new Model(
        Sequential(
            Conv2D(4L, 3L, activation = ActivationFunction.Relu, name = "conv"),
            MaxPool2D(name = "pool"),
            Flatten(name = "flatten"),
            Sequential(
                [
                    Dense(16L, ActivationFunction.Relu, name = "hidden") :> ILayer
                    Dense(3L, name = "logits")
                ],
                "head"
            )
        ),
        [| 1L; 12L; 12L |],
        Loss.SparseCategoricalCrossEntropy(true),
        Optimizer.Adam 1e-2,
        seed = seed
    )

let private images n (seed: uint64) =
    use rng = new torch.Generator(seed)
    torch.rand ([| n; 1L; 12L; 12L |], generator = rng), torch.randint (0L, 3L, [| n |], generator = rng)

let private temp () =
    Path.Combine(Path.GetTempPath(), $"functional-profile-{Guid.NewGuid():N}")

let private fit (model: Model) (profiler: Profiler option) epochs =
    let x, y = images 96L 3UL

    let callbacks: Callback list =
        match profiler with
        | Some p -> [ p ]
        | None -> []

    model.Fit(x, y, FitOptions(Epochs = epochs, BatchSize = 16, Verbosity = Verbosity.Silent, Callbacks = callbacks))
    |> ignore

let private leafLayers = [ "conv"; "pool"; "flatten"; "head/hidden"; "head/logits" ]

/// The "X" events of a trace file, checked field by field as trace viewers need them.
let private completeEvents (path: string) =
    use document = JsonDocument.Parse(File.ReadAllText path)
    let events = document.RootElement.GetProperty("traceEvents")

    [
        for e in events.EnumerateArray() do
            let phase = e.GetProperty("ph").GetString()
            Expect.contains [ "X"; "M"; "C" ] phase "a known event phase"
            Expect.equal (e.GetProperty("pid").ValueKind) JsonValueKind.Number "pid is a number"

            if phase = "X" then
                let ts, dur = e.GetProperty("ts").GetDouble(), e.GetProperty("dur").GetDouble()
                Expect.isGreaterThanOrEqual dur 0.0 "durations are not negative"
                yield e.GetProperty("name").GetString(), e.GetProperty("cat").GetString(), ts, dur
    ]

let tests =
    testList
        "profiler"
        [
            testCase
                "Fit records the chosen steps: every layer forward and backward, phases that fill the step, a valid trace, run metadata and a report"
            <| fun () ->
                scoped (fun () ->
                    let logDir = temp ()
                    use model = cnn 1UL
                    let profiler = Profiler(firstStep = 4, steps = 3, logDir = logDir)
                    fit model (Some profiler) 2
                    let steps = profiler.Recorded
                    Expect.sequenceEqual [ for s in steps -> s.Step ] [ 4L; 5L; 6L ] "steps 4 to 6 of the 12"

                    for step in steps do
                        let phases = step.Phases |> Seq.sumBy (fun p -> p.Duration.TotalMilliseconds)
                        let total = step.Duration.TotalMilliseconds

                        Expect.isLessThan
                            (abs (phases - total))
                            (0.05 * total + 0.5)
                            $"step {step.Step}: the phases ({phases:F2} ms) add up to the step ({total:F2} ms) within 5%% + 0.5 ms"

                        let layer name =
                            step.Layers |> Seq.find (fun l -> l.Name = name)

                        for name in leafLayers do
                            Expect.isGreaterThan (layer name).Forward TimeSpan.Zero $"{name} has a forward time"

                        for name in [ "conv"; "head/hidden"; "head/logits" ] do
                            Expect.isGreaterThan (layer name).Backward TimeSpan.Zero $"{name} has a backward time"

                        let forward, backward =
                            step.Phase(PhaseNames.Forward).TotalMilliseconds,
                            step.Phase(PhaseNames.Backward).TotalMilliseconds

                        let top = step.Layers |> Seq.filter (fun l -> l.Depth = 0) |> Seq.toList

                        Expect.sequenceEqual
                            [ for l in top -> l.Name ]
                            [ model.Network.Name; "loss" ]
                            "the network and the loss at the top"

                        let topForward = top |> List.sumBy (fun l -> l.Forward.TotalMilliseconds)
                        let topBackward = top |> List.sumBy (fun l -> l.Backward.TotalMilliseconds)
                        // The network and the loss never take more than their pass (how much of it they
                        // cover is checked over all the steps below).
                        Expect.isLessThanOrEqual topForward (forward + 0.01) "the calls lie inside the forward phase"

                        Expect.isLessThanOrEqual
                            topBackward
                            (backward + 0.01)
                            "the calls lie inside the backward phase"

                        let children =
                            step.Layers
                            |> Seq.filter (fun l -> l.Depth = 1)
                            |> Seq.sumBy (fun l -> l.Forward.TotalMilliseconds)

                        Expect.isLessThanOrEqual
                            children
                            ((layer model.Network.Name).Forward.TotalMilliseconds + 0.01)
                            "children inside their parent"

                        if OperatingSystem.IsLinux() then
                            Expect.isSome (Option.ofNullable step.PeakHeapBytes) "the heap is sampled on glibc"

                            Expect.isGreaterThanOrEqual
                                step.PeakHeapBytes.Value
                                step.HeapAtStartBytes.Value
                                "the sampled peak is at least the start"

                    // Stated tolerance: over the recorded steps, the network and the loss cover at
                    // least 40% of each pass (the rest is the step's own checks, autograd's set-up,
                    // and a garbage collection or a busy machine's pause, which any one step may hit).
                    let covered phase (time: LayerProfile -> TimeSpan) =
                        let calls =
                            steps
                            |> Seq.sumBy (fun s ->
                                s.Layers
                                |> Seq.filter (fun l -> l.Depth = 0)
                                |> Seq.sumBy (fun l -> (time l).TotalMilliseconds))

                        calls / (steps |> Seq.sumBy (fun s -> s.Phase(phase).TotalMilliseconds))

                    for phase, time in
                        [
                            PhaseNames.Forward, (fun (l: LayerProfile) -> l.Forward)
                            PhaseNames.Backward, (fun l -> l.Backward)
                        ] do
                        let share = covered phase time

                        Expect.isGreaterThan
                            share
                            0.4
                            $"the calls cover the {phase} phase ({100.0 * share:F0}%% over the steps)"

                    let events = completeEvents (Path.Combine(logDir, "profile", "trace.json"))

                    for name in leafLayers do
                        Expect.isTrue
                            (events |> List.exists (fun (n, c, _, _) -> n = name && c = "forward"))
                            $"{name} forward in the trace"

                    for name in [ "conv"; "head/hidden"; "head/logits" ] do
                        Expect.isTrue
                            (events |> List.exists (fun (n, c, _, _) -> n = name && c = "backward"))
                            $"{name} backward in the trace"

                    let stepEvents = events |> List.filter (fun (_, c, _, _) -> c = "step")
                    Expect.equal stepEvents.Length 3 "a span per step"

                    for (_, c, ts, dur) in events do
                        if c <> "step" then
                            Expect.isTrue
                                (stepEvents
                                 |> List.exists (fun (_, _, s, d) -> ts >= s - 1.0 && ts + dur <= s + d + 1.0))
                                "every span lies inside a step"

                    let tensorboard = TensorBoardTests.events (Path.Combine(logDir, "train"))

                    let graph =
                        tensorboard
                        |> List.filter (fun e -> not e.GraphDef.IsEmpty)
                        |> List.exactlyOne
                        |> fun e -> Tensorboard.GraphDef.Parser.ParseFrom e.GraphDef

                    let nodes = set [ for n in graph.Node -> n.Name ]

                    let metadata =
                        [
                            for e in tensorboard do
                                if not (isNull e.TaggedRunMetadata) then
                                    e.TaggedRunMetadata.Tag,
                                    Tensorboard.RunMetadata.Parser.ParseFrom e.TaggedRunMetadata.RunMetadata
                        ]

                    Expect.sequenceEqual
                        (List.map fst metadata)
                        [ "step_4"; "step_5"; "step_6" ]
                        "run metadata per step"

                    for _, run in metadata do
                        let stats = run.StepStats.DevStats |> Seq.exactlyOne
                        Expect.equal stats.Device "/device:CPU:0" "a CPU device"
                        let named = [ for n in stats.NodeStats -> n.NodeName ]
                        Expect.sequenceEqual named leafLayers "a node per layer call, in order"

                        for n in stats.NodeStats do
                            Expect.isTrue (nodes.Contains n.NodeName) $"{n.NodeName} is a node of the graph"
                            Expect.isGreaterThan n.AllEndRelMicros 0L $"{n.NodeName} has a time"

                    let report = File.ReadAllText(Path.Combine(logDir, "profile", "report.txt"))
                    Expect.stringContains report "Top layers" "the report lists layers"
                    Expect.stringContains report "Verdict: " "the report has a verdict"
                    Directory.Delete(logDir, true))

            testCase "markers are identities: a profiled Fit trains exactly as an unprofiled one"
            <| fun () ->
                scoped (fun () ->
                    use profiled = cnn 7UL
                    use plain = cnn 7UL
                    fit profiled (Some(Profiler(firstStep = 0, steps = 100))) 2
                    fit plain None 2
                    expectTreesClose "the same parameters" 0.0 profiled.State.Params plain.State.Params)

            testCase "a slow source is input-bound and the verdict names its slowest stage; in-memory data is not"
            <| fun () ->
                scoped (fun () ->
                    let x, y = images 96L 5UL

                    let batches =
                        DataStream
                            .FromGenerator(fun () ->
                                seq {
                                    for start in 0L..16L..80L ->
                                        new Batch(x.narrow(0L, start, 16L).clone(), y.narrow(0L, start, 16L).clone())
                                })
                            .Map(
                                (fun (b: Batch) ->
                                    Thread.Sleep 25
                                    b),
                                name = "slow"
                            )

                    use model = cnn 2UL
                    let slow = Profiler(firstStep = 1, steps = 4)

                    model.Fit(
                        batches.ToBatchSource(96L),
                        FitOptions(Epochs = 1, Verbosity = Verbosity.Silent, Callbacks = [ slow ])
                    )
                    |> ignore

                    let report = slow.Report()
                    Expect.isGreaterThan report.InputWaitShare 0.3 "most of the step waits"
                    Expect.equal report.Bottleneck Bottleneck.Input "input-bound"
                    Expect.stringContains report.Verdict "input-bound:" "verdict"
                    Expect.stringContains report.Verdict "try Prefetch, Parallelism.Auto or Cache" "advice"
                    Expect.stringContains report.Verdict "'slow'" "the stage that does the work"
                    let stage = report.Stages |> Seq.find (fun s -> s.Name = "slow")
                    Expect.isGreaterThan stage.Busy (TimeSpan.FromMilliseconds 20.0) "its work per step"

                    use fast = cnn 2UL
                    let inMemory = Profiler(firstStep = 2, steps = 4)
                    fit fast (Some inMemory) 1
                    Expect.notEqual (inMemory.Report().Bottleneck) Bottleneck.Input "in-memory data keeps up")

            testCase "a custom loop profiles its steps with scopes and phases"
            <| fun () ->
                scoped (fun () ->
                    let network =
                        Sequential(Dense(8L, ActivationFunction.Tanh, name = "a"), Dense(1L, name = "b"))

                    use rng = new torch.Generator(1UL)
                    let variables = network.Init(rng, [| 4L |])
                    let x = torch.randn ([| 32L; 4L |], generator = rng)
                    let profiler = Profiler(firstStep = 1, steps = 2)

                    for _ in 1..4 do
                        use step = profiler.Step()

                        let loss =
                            Func<Functional.Trees.TensorTree, torch.Tensor>(fun p ->
                                use _ = step.Phase PhaseNames.Forward

                                let struct (y, _) =
                                    network.Apply(Variables(p, variables.State), x, ApplyContext.Inference)

                                y.square().mean())

                        use _ = step.Phase PhaseNames.Backward
                        Transforms.Grad(loss).Invoke(variables.Params) |> ignore

                    Expect.sequenceEqual [ for s in profiler.Recorded -> s.Step ] [ 1L; 2L ] "steps 1 and 2"

                    for s in profiler.Recorded do
                        Expect.sequenceEqual [ for l in s.Layers -> l.Name ] [ "a"; "b" ] "the layers, by path"
                        Expect.isGreaterThan s.Layers.[1].Backward TimeSpan.Zero "backward of b"
                        Expect.equal s.Phases.Count 2 "two phases"

                    Expect.stringContains (profiler.Report().ToString()) "Top layers" "a report")

            testCase "a callback's own model calls are not the step's, and a step begun under no_grad still records"
            <| fun () ->
                scoped (fun () ->
                    use model = cnn 3UL
                    let probe, _ = images 4L 9UL
                    let profiler = Profiler(firstStep = 1, steps = 2)

                    let predicting =
                        LambdaCallback(onBatchEnd = fun context _ _ -> context.Model.Predict(probe).Dispose())

                    let x, y = images 64L 4UL

                    model.Fit(
                        x,
                        y,
                        FitOptions(BatchSize = 16, Verbosity = Verbosity.Silent, Callbacks = [ predicting; profiler ])
                    )
                    |> ignore

                    for step in profiler.Recorded do
                        let names = [ for l in step.Layers -> l.Name ]

                        Expect.equal
                            names
                            (List.distinct names)
                            "each call once: Predict in a callback is not recorded"

                    let network = Sequential(Dense(4L, name = "only"))
                    use rng = new torch.Generator(2UL)
                    let variables = network.Init(rng, [| 3L |])
                    let inference = Profiler(firstStep = 0, steps = 1)

                    do
                        use _ = torch.no_grad ()
                        use step = inference.Step()
                        network.Apply(variables, torch.ones (2L, 3L), ApplyContext.Inference) |> ignore

                    let recorded = inference.Recorded |> Seq.exactlyOne
                    Expect.sequenceEqual [ for l in recorded.Layers -> l.Name ] [ "only" ] "forward only, no backward"
                    Expect.equal recorded.Layers.[0].Backward TimeSpan.Zero "no gradient flowed")

            testCase "a recorded step uses no more memory than an unrecorded one (the markers keep no buffers)"
            <| fun () ->
                if OperatingSystem.IsLinux() then
                    scoped (fun () ->
                        let network = Sequential(Activation(ActivationFunction.Relu, "relu"))
                        let x = torch.randn(1024L, 10240L).requires_grad_() // 40 MB

                        let mb () =
                            float (Functional.Diagnostics.NativeHeap.InUseBytes().Value) / 1048576.0

                        let grows (apply: unit -> torch.Tensor) =
                            let before = mb ()
                            let y = apply ()
                            let grown = mb () - before
                            y.Dispose()
                            grown

                        let plain =
                            grows (fun () ->
                                let struct (y, _) = network.Apply(Variables.None, x, ApplyContext.Inference)
                                y)

                        let profiler = Profiler(firstStep = 0, steps = 1)
                        use step = profiler.Step()

                        let recorded =
                            grows (fun () ->
                                let struct (y, _) = network.Apply(Variables.None, x, ApplyContext.Inference)
                                y)

                        Expect.isLessThan
                            recorded
                            (plain + 20.0)
                            $"recorded {recorded:F0} MB vs plain {plain:F0} MB (the two markers would keep 80 MB more)")

            testCase "bad use is a clear exception"
            <| fun () ->
                expectThrowsWith<ArgumentOutOfRangeException> [ "first step" ] (fun () ->
                    Profiler(firstStep = -1) |> ignore)

                expectThrowsWith<InvalidOperationException> [ "recorded no step"; "steps 5 to 9" ] (fun () ->
                    Profiler().Report() |> ignore)

                scoped (fun () ->
                    use model = cnn 1UL
                    let x, y = images 16L 1UL

                    expectThrowsWith<ArgumentException> [ "more than one Profiler" ] (fun () ->
                        model.Fit(
                            x,
                            y,
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                Callbacks = [ Profiler() :> Callback; Profiler() ]
                            )
                        )
                        |> ignore))
        ]
