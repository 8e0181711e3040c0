module Functional.PropertyTests.Main

open System
open Expecto
open Expecto.Impl

let allTests =
    testList "Functional" [
        TorchLoadsTests.tests
        TreeTests.tests
        PrimitiveGradientTests.tests
        TransformLawTests.tests
        CustomGradientTests.tests
        TapeTests.tests
        ErrorTests.tests
        MemoryTests.tests
        ArrowColumnTests.tests
        LayerTests.tests
        LossAndMetricTests.tests
        OptimizerTests.tests
        TrainingTests.tests
        PersistenceTests.tests
        TensorBoardTests.tests
        ArrowTrainingTests.tests
        StreamLawTests.tests
        StreamSourceTests.tests
        StreamRuntimeTests.tests
        OnnxTests.tests
        ExampleTests.tests
    ]

/// Expecto's own printer, remembering the run's results for the plain count line.
let private remembering (printer: TestPrinters) (result: TestRunSummary option ref) =
    { printer with
        summary = fun config summary ->
            result.Value <- Some summary
            printer.summary config summary }

[<EntryPoint>]
let main argv =
    let summary = ref None
    // Sequenced: the memory test measures the whole process. No spinner and no colours: the
    // output goes to CI logs and files.
    let settings =
        [ CLIArguments.Sequenced; CLIArguments.No_Spinner; CLIArguments.Colours 0
          CLIArguments.Printer(remembering defaultConfig.printer summary) ]
    let exitCode = runTestsWithCLIArgs settings argv allTests
    // CI reads a plain "N passed, N failed" line, computed from the runner's own results. It is
    // written to the raw stream: Expecto's console writer pads lines to overwrite its progress.
    let line =
        match summary.Value with
        | Some s -> $"{s.passed.Length} passed, {s.failed.Length + s.errored.Length} failed, {s.ignored.Length} skipped"
        | None -> "0 passed, 0 failed"
    Console.Out.Flush()
    use stdout = new IO.StreamWriter(Console.OpenStandardOutput())
    stdout.Write("\n" + line + "\n")
    exitCode
