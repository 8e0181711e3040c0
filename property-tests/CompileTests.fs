/// Compiled inference: a model's own ONNX export in ONNX Runtime sessions in process, graph
/// breaks for layers without a lowering, and refusal once the model has moved on.
module Functional.PropertyTests.CompileTests

open System
open System.Threading.Tasks
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Training
open Functional.Compilation
open Support

let private model (network: ILayer) (shape: int64[]) (policy: PrecisionPolicy) =
    new Model(network, shape, Loss.SparseCategoricalCrossEntropy(true), Optimizer.Adam 1e-3, precision = policy)

/// An activation without an ONNX form: the layer that uses it runs eagerly.
let private swish2 () =
    Activation(ActivationFunction("swish2", fun t -> t * t.sigmoid ()))

/// Trains a few steps, so batch norm's running statistics and the weights are not their initial values.
let private trained (m: Model) (shape: int64[]) =
    use rng = new torch.Generator(7UL)
    let x = torch.randn ([| yield 64L; yield! shape |], generator = rng)
    let y = torch.randint (0L, 3L, [| 64L |], generator = rng)

    m.Fit(x, y, FitOptions(Epochs = 2, BatchSize = 16, Verbosity = Verbosity.Silent))
    |> ignore

    m

let private networks: (string * (unit -> ILayer) * int64[]) list =
    [
        "MLP",
        (fun () ->
            Sequential(Dense(16L, ActivationFunction.Relu), Dense(8L, ActivationFunction.Tanh), Dense(3L)) :> ILayer),
        [| 5L |]
        "CNN with batch norm",
        (fun () ->
            Sequential(
                Conv2D(4L, 3L, activation = ActivationFunction.Relu),
                BatchNorm(),
                MaxPool2D(),
                Flatten(),
                Dense(3L)
            )
            :> ILayer),
        [| 1L; 8L; 8L |]
    ]

/// Records libtorch's intra-op thread count at each step.
type ThreadWatch() =
    inherit Callback()
    member val Seen = System.Collections.Generic.HashSet<int>()

    override this.OnBatchEnd(_, _, _) =
        this.Seen.Add(torch.get_num_threads ()) |> ignore

let private planTests =
    [
        testCase "a measured plan times each thread count on a copy: the model trains exactly as without it"
        <| fun () ->
            scoped (fun () ->
                let x, y = TrainingTests.blobs 128L 3UL

                let make () =
                    model (Sequential(Dense(8L, ActivationFunction.Relu), Dense(2L))) [| 2L |] PrecisionPolicy.Float32

                use planned = make ()
                use plain = make ()
                let before = torch.get_num_threads ()
                let watch = ThreadWatch()
                let options = FitOptions(Epochs = 2, BatchSize = 16, Verbosity = Verbosity.Silent)

                planned.Fit(
                    x,
                    y,
                    FitOptions(
                        Epochs = 2,
                        BatchSize = 16,
                        Verbosity = Verbosity.Silent,
                        Plan = TrainingPlan.Measured,
                        Callbacks = [ watch ]
                    )
                )
                |> ignore

                plain.Fit(x, y, options) |> ignore
                expectTreesClose "same parameters" 0.0 planned.State.Params plain.State.Params
                let plan = planned.Plan
                Expect.isNotNull plan "the plan is kept"

                Expect.sequenceEqual
                    (Seq.sort plan.MillisecondsPerStep.Keys)
                    (TrainingPlan.Candidates())
                    "every candidate was timed"

                Expect.equal
                    plan.Threads
                    (plan.MillisecondsPerStep |> Seq.minBy (fun kv -> kv.Value)).Key
                    "the fastest wins"

                Expect.sequenceEqual watch.Seen [ plan.Threads ] "Fit trained with the chosen threads"
                Expect.equal (torch.get_num_threads ()) before "and put libtorch's setting back"
                Expect.stringContains (string plan) "measured" "the plan says how it was chosen")

        testCase "a pinned plan is used as given and reproduces a measured one"
        <| fun () ->
            scoped (fun () ->
                let x, y = TrainingTests.blobs 64L 4UL
                use m = model (Sequential(Dense(2L))) [| 2L |] PrecisionPolicy.Float32
                let watch = ThreadWatch()

                m.Fit(
                    x,
                    y,
                    FitOptions(
                        Epochs = 1,
                        BatchSize = 16,
                        Verbosity = Verbosity.Silent,
                        Plan = TrainingPlan.Pinned 1,
                        Callbacks = [ watch ]
                    )
                )
                |> ignore

                Expect.sequenceEqual watch.Seen [ 1 ] "one thread"
                Expect.equal m.Plan.Threads 1 "reported"
                Expect.equal (m.Plan.Pin().PinnedThreads) (Nullable 1) "pinned again"

                expectThrowsWith<ArgumentOutOfRangeException> [ "at least 1 thread" ] (fun () ->
                    TrainingPlan.Pinned 0 |> ignore))
    ]

let tests =
    testList
        "compiled execution"
        (planTests
         @ [
             for name, make, shape in networks do
                 testCase $"{name}: compiled Predict agrees with Predict within 1e-5 at any batch size"
                 <| fun () ->
                     scoped (fun () ->
                         use m = trained (model (make ()) shape PrecisionPolicy.Float32) shape
                         use compiled = m.Compile()
                         Expect.isFalse compiled.Plan.HasGraphBreaks "every built-in layer lowers"
                         Expect.stringContains (string compiled.Plan) "onnxruntime" "the plan says where it runs"

                         for batch in [ 1L; 7L; 300L ] do
                             let x = torch.randn [| yield batch; yield! shape |]
                             expectClose $"batch {batch}" 1e-5 (compiled.Predict x) (m.Predict x)

                         let one = torch.randn shape

                         expectClose
                             "one example without a batch dimension"
                             1e-5
                             (compiled.Predict one)
                             (m.Predict one))

             testCase "a layer without an ONNX lowering runs eagerly between sessions, named in the plan"
             <| fun () ->
                 scoped (fun () ->
                     let network =
                         Sequential(Dense(6L), swish2 (), Dense(4L, ActivationFunction.Relu), Dense(2L))

                     use m = model network [| 3L |] PrecisionPolicy.Float32
                     use compiled = m.Compile()
                     let runtimes = compiled.Plan.Segments |> Seq.map (fun s -> s.Runtime) |> List.ofSeq

                     Expect.equal
                         runtimes
                         [ SegmentRuntime.OnnxRuntime; SegmentRuntime.Eager; SegmentRuntime.OnnxRuntime ]
                         "ONNX Runtime, the break, ONNX Runtime"

                     Expect.sequenceEqual
                         compiled.Plan.Segments.[2].Layers
                         [ "dense_1"; "dense_2" ]
                         "the layers after the break share a session"

                     Expect.stringContains compiled.Plan.Segments.[1].Reason "swish2" "the break says why"
                     let x = torch.randn (9L, 3L)
                     expectClose "the same outputs" 1e-5 (compiled.Predict x) (m.Predict x))

             testCase "a network that does not lower at all runs eagerly, never an error"
             <| fun () ->
                 scoped (fun () ->
                     let input = Graph.Input([| 3L |])

                     let network =
                         FunctionalModel([ input ], [ Dense(2L).Call((swish2 ()).Call(input)) ])

                     use m = model network [| 3L |] PrecisionPolicy.Float32
                     use compiled = m.Compile()
                     Expect.isTrue compiled.Plan.HasGraphBreaks "one eager part"
                     let x = torch.randn (4L, 3L)
                     expectClose "the same outputs" 1e-6 (compiled.Predict x) (m.Predict x))

             testCase "once the model trains on, the compiled model refuses and says to compile again"
             <| fun () ->
                 scoped (fun () ->
                     let make, shape = (let _, f, s = networks.[0] in f, s)
                     use m = model (make ()) shape PrecisionPolicy.Float32
                     use compiled = m.Compile()
                     let x = torch.randn [| yield 4L; yield! shape |]
                     let before = compiled.Predict x
                     trained m shape |> ignore
                     Expect.isFalse compiled.IsCurrent "stale"

                     expectThrowsWith<InvalidOperationException>
                         [ "changed since it was compiled"; "Compile" ]
                         (fun () -> compiled.Predict x |> ignore)

                     use again = m.Compile()
                     expectClose "compiled again: the new weights" 1e-5 (again.Predict x) (m.Predict x)

                     Expect.isGreaterThan
                         ((again.Predict x - before).abs().max().item<float32>())
                         0.0f
                         "the weights did change")

             testCase "a mixed-precision model compiles to float32 with its float32 weights"
             <| fun () ->
                 scoped (fun () ->
                     let make, shape = (let _, f, s = networks.[1] in f, s)
                     use m = trained (model (make ()) shape PrecisionPolicy.MixedBFloat16) shape
                     use compiled = m.Compile()
                     let x = torch.randn [| yield 5L; yield! shape |]

                     let struct (expected, _) =
                         m.Network.Apply(
                             Variables(m.State.Params, m.State.ModelState),
                             x,
                             ApplyContext.Inference.WithPrecision PrecisionPolicy.Float32
                         )

                     let actual = compiled.Predict x
                     Expect.equal actual.dtype torch.float32 "float32 out"
                     expectClose "the float32 computation" 1e-5 actual expected
                     // The model itself computes in bfloat16: close, not equal.
                     expectClose "the bfloat16 model" 0.1 actual (m.Predict x))

             testCase "integer ids go to an embedding network's session"
             <| fun () ->
                 scoped (fun () ->
                     use m =
                         model (Sequential(Embedding(10L, 4L), Gru(3L), Dense(2L))) [| 6L |] PrecisionPolicy.Float32

                     use compiled = m.Compile()
                     let ids = torch.randint (0L, 10L, [| 3L; 6L |])
                     expectClose "ids" 1e-5 (compiled.Predict ids) (m.Predict ids))

             testCase "bad inputs are clear exceptions; many threads may predict at once"
             <| fun () ->
                 scoped (fun () ->
                     let make, shape = (let _, f, s = networks.[0] in f, s)
                     use m = model (make ()) shape PrecisionPolicy.Float32
                     use compiled = m.Compile(CompileOptions(IntraOpThreads = 1))
                     Expect.equal compiled.Plan.IntraOpThreads 1 "the thread setting is in the plan"

                     expectThrowsWith<ShapeException> [ "(batch, 5)"; "(2, 4)" ] (fun () ->
                         compiled.Predict(torch.randn (2L, 4L)) |> ignore)

                     let x = torch.randn (32L, 5L)
                     let expected = m.Predict x

                     Parallel.For(
                         0,
                         8,
                         fun _ ->
                             use y = compiled.Predict x
                             expectClose "a thread's answer" 1e-5 y expected
                     )
                     |> ignore

                     compiled.Dispose()

                     expectThrowsWith<ObjectDisposedException> [ "CompiledModel" ] (fun () ->
                         compiled.Predict x |> ignore))
         ])
