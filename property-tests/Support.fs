/// Helpers shared by the test files.
module Functional.PropertyTests.Support

open System
open Expecto
open TorchSharp
open Functional.Trees
open Functional.FSharp.Testing

/// FsCheck settings: few cases (tensors are small but each case runs libtorch), our generators.
let config =
    { FsCheckConfig.defaultConfig with
        maxTest = 25
        arbitrary = [ typeof<Arbitraries> ]
    }

/// Element-wise closeness with a message naming what differed.
let expectClose (message: string) (tolerance: float) (actual: torch.Tensor) (expected: torch.Tensor) =
    Expect.sequenceEqual actual.shape expected.shape $"{message}: shapes"

    let diff =
        if actual.numel () = 0L then
            0.0
        else
            (actual.to_type torch.float64 - expected.to_type torch.float64).abs().max().item<float>()

    if not (diff <= tolerance) then
        failtestf
            "%s: max abs difference %g > %g\nactual:   %s\nexpected: %s"
            message
            diff
            tolerance
            (actual.str ())
            (expected.str ())

/// Leaf-wise closeness of two trees with the same paths.
let expectTreesClose (message: string) (tolerance: float) (actual: TensorTree) (expected: TensorTree) =
    Expect.sequenceEqual (Seq.sort actual.Paths) (Seq.sort expected.Paths) $"{message}: paths"

    for p in expected.Paths do
        expectClose $"{message} at '{p}'" tolerance actual.[p] expected.[p]

/// Asserts that `f` throws `'E` whose message contains every fragment.
let expectThrowsWith<'E when 'E :> exn> (fragments: string list) (f: unit -> unit) =
    let error =
        try
            f ()
            None
        with
        | :? 'E as e -> Some(e :> exn)
        | e -> failtestf "expected %s but got %s: %s" typeof<'E>.Name (e.GetType().Name) e.Message

    match error with
    | None -> failtestf "expected %s, nothing was thrown" typeof<'E>.Name
    | Some e ->
        for fragment in fragments do
            Expect.stringContains e.Message fragment $"the {typeof<'E>.Name} message should say '{fragment}'"

/// The `'E` that `f` throws (fails the test when it throws nothing, or something else).
let catchError<'E when 'E :> exn> (f: unit -> unit) : 'E =
    try
        f ()
        failtestf "expected %s, nothing was thrown" typeof<'E>.Name
    with
    | :? 'E as e -> e
    | e -> failtestf "expected %s but got %s: %s" typeof<'E>.Name (e.GetType().Name) e.Message

/// Runs `f` with a time limit: a deadlock fails the test instead of hanging the run.
let within (seconds: float) (f: unit -> unit) =
    let task = System.Threading.Tasks.Task.Run f

    if not (task.Wait(TimeSpan.FromSeconds seconds)) then
        failtestf "did not finish within %.0f s (deadlock?)" seconds

    task.GetAwaiter().GetResult()

/// The small CNN the tests that train from files fit to MNIST digits.
let digitModel () =
    new Functional.Training.Model(
        Functional.Layers.Sequential(
            Functional.Layers.Conv2D(8L, 3L, activation = Functional.Layers.ActivationFunction.Relu),
            Functional.Layers.MaxPool2D(),
            Functional.Layers.Flatten(),
            Functional.Layers.Dense(10L)
        ),
        [| 1L; 28L; 28L |],
        Functional.Losses.Loss.SparseCategoricalCrossEntropy(true),
        Functional.Optimizers.Optimizer.Adam 3e-3,
        [ Functional.Metrics.SparseCategoricalAccuracy() :> Functional.Metrics.Metric ]
    )

/// Asserts that `model` classifies the 2,000 held-out MNIST digits (8,000 onwards) with accuracy above 0.8.
let expectLearnsDigits
    (model: Functional.Training.Model)
    (images: torch.Tensor)
    (labels: torch.Tensor)
    (message: string)
    =
    let scores =
        model.Evaluate(images.narrow (0L, 8000L, 2000L), labels.narrow (0L, 8000L, 2000L))

    Expect.isGreaterThan scores.["accuracy"] 0.8 message

/// Seeded Gaussian blobs for classification: `rows` points of `features` features around one
/// random centre per class (centres scaled by `spread`, points scattered by `noise`), and their labels.
let classBlobs (seed: uint64) (rows: int64) (features: int64) (classes: int64) (spread: float) (noise: float) =
    use rng = new torch.Generator(seed)
    let y = torch.randint (0L, classes, [| rows |], generator = rng)
    let centres = torch.randn ([| classes; features |], generator = rng) * spread

    let x =
        centres.index_select (0L, y)
        + torch.randn ([| rows; features |], generator = rng) * noise

    x, y

/// A float64 scalar tensor.
let scalar (x: float) = torch.tensor (x, dtype = torch.float64)

/// A float64 vector.
let vector (xs: float list) =
    torch.tensor (Array.ofList xs, dtype = torch.float64)

/// Runs `f` inside a dispose scope so the tensors a test makes are freed when it ends.
let scoped (f: unit -> 'T) : 'T =
    use _ = torch.NewDisposeScope()
    f ()

/// Runs this test program again as a child process with `arguments` (crashes are only seen from
/// outside a process): its exit code, standard output and standard error. Fails the test when
/// the child runs past `timeout`.
let runSelf (arguments: string list) (timeout: TimeSpan) (what: string) =
    let self = Reflection.Assembly.GetExecutingAssembly().Location

    let info =
        Diagnostics.ProcessStartInfo(
            "dotnet",
            self :: arguments,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    use proc = Diagnostics.Process.Start info
    let stderr = proc.StandardError.ReadToEndAsync()
    let stdout = proc.StandardOutput.ReadToEndAsync()

    if not (proc.WaitForExit timeout) then
        proc.Kill true
        failtestf "%s timed out" what

    proc.ExitCode, stdout.Result, stderr.Result

/// The repository's root folder (the one holding Functional.sln, above the test binary).
let repositoryRoot =
    let rec up (dir: IO.DirectoryInfo) =
        if isNull dir then
            failwith "Functional.sln not found above the test binary"
        elif IO.File.Exists(IO.Path.Combine(dir.FullName, "Functional.sln")) then
            dir.FullName
        else
            up dir.Parent

    up (IO.DirectoryInfo AppContext.BaseDirectory)
