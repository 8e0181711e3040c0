module Functional.PropertyTests.Main

open System
open Expecto
open Expecto.Impl

let allTests =
    testList
        "Functional"
        [
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
            MultiOutputTests.tests
            FSharpSurfaceTests.tests
            TensorBoardTests.tests
            ProfilerTests.tests
            TuningTests.tests
            MixedPrecisionTests.tests
            ChartTests.tests
            ArrowTrainingTests.tests
            StreamLawTests.tests
            StreamSourceTests.tests
            TfRecordTests.tests
            CsvTests.tests
            DatabaseTests.tests
            ImageTests.tests
            TextTests.tests
            StreamRuntimeTests.tests
            OnnxTests.tests
            CompileTests.tests
            ModelOptimizationTests.tests
            QuantizationTests.tests
            DistributedTests.tests
            PretrainedTests.tests
            LayerCatalogTests.tests
            LayerCatalogTests.lawTests
            ExampleTests.tests
            ReliabilityTests.tests
            CrashProbe.tests
            KillTests.tests
            FileFuzz.tests
        ]

/// Expecto's own printer, remembering the run's results for the plain count line.
let private remembering (printer: TestPrinters) (result: TestRunSummary option ref) =
    { printer with
        summary =
            fun config summary ->
                result.Value <- Some summary
                printer.summary config summary
    }

let private runAll argv =
    let summary = ref None
    // Sequenced: the memory test measures the whole process. No spinner and no colours: the
    // output goes to CI logs and files.
    let settings =
        [
            CLIArguments.Sequenced
            CLIArguments.No_Spinner
            CLIArguments.Colours 0
            CLIArguments.Printer(remembering defaultConfig.printer summary)
        ]

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

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | "--crash-probe" :: ids -> CrashProbe.run ids
    | [ "--mpi-worker"; scenario; folder ] -> DistributedWorker.run scenario folder
    | "--save-loop" :: [ folder ] -> KillTests.saveLoop folder
    | [ "--fuzz-readers"; count ] -> FileFuzz.run (int count)
    | [ "--kill-bench"; kills ] ->
        // bench/run kill: the same harness, more kills, key=value lines.
        let kills, bad, stale, seen = KillTests.killRun (int kills) 42

        for problem in bad do
            eprintfn "%s" problem

        printfn "kills=%d\nsaves_seen=%d\nmixed_or_unloadable=%d\nstale_temp_files=%d" kills seen bad.Length stale
        if bad.IsEmpty && stale = 0 then 0 else 1
    | _ -> runAll argv
